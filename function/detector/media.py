"""Media types, and the image files we read by suffix: one place for each.

A leaf module (nothing to import), so the HTTP layer, the documents, the request parser and
the laptop tools can all use it, the CLI without slowing its ``--help``.
"""

JSON_MEDIA_TYPE = "application/json"
JPEG_MEDIA_TYPE = "image/jpeg"
# The images pipeline.decode opens, by the suffix their files carry.
IMAGE_MEDIA_TYPES_BY_SUFFIX = {
    ".jpg": JPEG_MEDIA_TYPE,
    ".jpeg": JPEG_MEDIA_TYPE,
    ".png": "image/png",
    ".webp": "image/webp",
}
IMAGE_SUFFIXES = tuple(IMAGE_MEDIA_TYPES_BY_SUFFIX)
IMAGE_MEDIA_TYPES = frozenset(IMAGE_MEDIA_TYPES_BY_SUFFIX.values())
