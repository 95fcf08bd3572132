"""Decode image bytes into an 8-bit RGB Pillow image, safely.

Only JPEG, PNG and WebP are opened (an allow-list: Pillow knows dozens of formats, each
one more parser exposed to untrusted bytes). Before Pillow sees the bytes, ``container``
checks their structure against the ``ImageLimits`` and strips the metadata; the pixel
count is checked from the header, before any pixel is decoded. Whatever Pillow raises on
the way is the image's fault: an ``InvalidImageError``. EXIF orientation is read here but
applied by the caller, after downscaling, where rotating is cheap.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image
from PIL.JpegImagePlugin import JpegImageFile

from detector.errors import InvalidImageError, PayloadTooLargeError
from detector.pipeline import container
from detector.settings import ImageLimits

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP")
# EXIF orientations 5-8 turn the image by 90 degrees: width and height swap.
_SWAPS_AXES = frozenset({5, 6, 7, 8})
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Decoding at 1/2, 1/4 or 1/8 in the DCT domain is only worth it, and only harmless,
# when the image is at least this many times bigger than what the model will see.
# libjpeg-turbo's other M/8 scales (simplejpeg exposes them) were measured and rejected: their
# inverse DCTs have no SIMD code, so a 640x426 JPEG decodes at 7/8 in 2.9 ms against 1.7 ms
# at full size, more than the smaller resize saves (1.9 -> 1.5 ms). simplejpeg's full-size
# and 1/8 decodes saved 0-0.7 ms once wrapped for Pillow's resize: not worth a dependency.
DRAFT_MIN_FACTOR = 2


_WIDE_GREYS = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})


@dataclass(frozen=True)
class DecodedImage:
    """An RGB image still in its stored orientation, possibly decoded at reduced size.

    ``width``/``height`` are the full-resolution size *after* EXIF orientation: the
    coordinate system results are reported in. ``box`` is the part of ``image`` that
    covers the whole picture, in ``image`` pixels (fractional after a DCT-domain reduction,
    whose last row and column cover a partial block).
    """

    image: Image.Image
    width: int
    height: int
    orientation: int
    box: tuple[float, float, float, float]

    @property
    def swaps_axes(self) -> bool:
        """Whether turning the stored image upright swaps its width and height."""
        return self.orientation in _SWAPS_AXES

    def oriented(self, image: Image.Image) -> Image.Image:
        """``image`` (in stored orientation) turned the way EXIF says it is viewed."""
        method = _TRANSPOSE.get(self.orientation)
        return image if method is None else image.transpose(method)


def decode(data: bytes, *, limits: ImageLimits, fit: tuple[int, int] | None = None) -> DecodedImage:
    """Decode ``data``; with ``fit=(height, width)``, a big JPEG may be decoded reduced.

    The reduction keeps the decoded image at least as big as the image scaled to fit
    inside ``fit``, so the resize to the model input only ever shrinks it further.
    Raises ``InvalidImageError`` or ``PayloadTooLargeError``.
    """
    checked = container.check(data, limits)
    image = _open(checked.data, max_pixels=limits.pixels)
    orientation = container.orientation(checked.exif)
    stored_w, stored_h = image.size
    width, height = (stored_h, stored_w) if orientation in _SWAPS_AXES else (stored_w, stored_h)
    box: tuple[float, float, float, float] = (0.0, 0.0, float(stored_w), float(stored_h))
    # Phone photos often open as MPO, a JpegImageFile subclass: they may be drafted too.
    if fit is not None and isinstance(image, JpegImageFile):
        ratio = min(fit[0] / height, fit[1] / width)
        if ratio * DRAFT_MIN_FACTOR <= 1:
            wanted = (max(1, int(stored_w * ratio)), max(1, int(stored_h * ratio)))
            with _pillow_errors():
                drafted = image.draft("RGB", wanted)
            if drafted is not None:
                x0, y0, x1, y1 = drafted[1]
                box = (float(x0), float(y0), float(x1), float(y1))
    with _pillow_errors():
        image.load()
        rgb = to_rgb(image)
    return DecodedImage(rgb, width, height, orientation, box)


def from_pil(image: Image.Image, *, max_pixels: int) -> DecodedImage:
    """Wrap an image; its pixels are taken as already oriented.

    ``Image.open`` only reads the header: the pixels are loaded here, once, so a broken
    file is an ``InvalidImageError`` and the resize's threads never race to load it.
    """
    _check_pixels(image.width, image.height, max_pixels)
    with _pillow_errors():
        image.load()
        rgb = to_rgb(image)
    return DecodedImage(rgb, rgb.width, rgb.height, 1, (0.0, 0.0, rgb.width, rgb.height))


def _open(data: bytes, *, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except Image.DecompressionBombError:
        # Pillow's own bomb check fires inside open(), before ours can: over twice its
        # MAX_IMAGE_PIXELS. Report whichever limit is the lower.
        pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or max_pixels)
        limit = min(max_pixels, pillow_limit)
        raise PayloadTooLargeError(f"the image has more than {limit:,} pixels") from None
    except Exception:  # any failure to read the header: not an image of ours
        raise InvalidImageError("not a JPEG, PNG or WebP image") from None
    _check_pixels(*image.size, max_pixels)
    return image


@contextmanager
def _pillow_errors() -> Iterator[None]:
    """Pillow's decoders raise what they like on broken input (``OSError``, ``SyntaxError``,
    ``struct.error``, ``IndexError``, a ``MemoryError`` for an absurd buffer...): all of it
    is the image's fault, a 400, never a 500 or an upload retried to the dead-letter queue."""
    try:
        yield
    except Exception as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise InvalidImageError(f"the image could not be decoded: {reason}") from None


def _check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width < 1 or height < 1:
        raise InvalidImageError("the image is empty")
    if width * height > max_pixels:
        raise PayloadTooLargeError(
            f"the image is {width}x{height}: more than {max_pixels:,} pixels"
        )


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode a JPEG, PNG or WebP decodes to.

    Alpha is dropped, not blended: the models were trained on images read with OpenCV,
    which drops it too. 16- and 32-bit greyscale is scaled down, not clipped (Pillow's own
    conversion would clip everything above 255 to white). Every step is Pillow's, in its
    own memory, 4 bytes a pixel at most: a 16-bit PNG of 49 MP went through numpy's 8-byte
    integers twice and peaked 842 MiB above its start (335 now, 2.3x its RGB size).
    """
    if image.mode == "RGB":
        return image
    if image.mode in _WIDE_GREYS:
        if image.mode != "I;16":  # Pillow's point takes I;16 (16-bit PNGs) and I only
            image = image.convert("I")
        # v / 256 truncated, then clipped to 0-255 by the conversion: v >> 8 for 0-65535
        image = image.point(lambda value: value * (1 / 256)).convert("L")
    elif image.mode == "P" and "transparency" in image.info:
        # Pillow warns about the transparency when converting to RGB, and would have us
        # go through RGBA (4 bytes a pixel); a copy of the palette image costs 1.
        image = image.copy()
        del image.info["transparency"]
    return image.convert("RGB")
