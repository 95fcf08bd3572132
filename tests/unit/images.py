"""Small images made in memory, in any format, mode and EXIF orientation."""

from __future__ import annotations

import io

from PIL import Image

from detector.pipeline.container import ORIENTATION_TAG


def encode(
    image: Image.Image, fmt: str = "PNG", *, orientation: int | None = None, **params
) -> bytes:
    out = io.BytesIO()
    if orientation is not None:
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        params["exif"] = exif.tobytes()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def solid(width: int, height: int, colour=(200, 30, 60), mode: str = "RGB") -> Image.Image:
    return Image.new(mode, (width, height), colour)
