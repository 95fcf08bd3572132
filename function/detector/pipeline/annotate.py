"""Draw detections on the image they came from: boxes and labels, returned as JPEG.

The drawing is a preview, no bigger than ``max_side`` on its longest side: a full-size
12-megapixel drawing took 110 ms and could pass Lambda's 6 MB response limit once base64
encoded.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from detector.pipeline import decode, letterbox
from detector.settings import ImageLimits

if TYPE_CHECKING:
    from detector.pipeline.engine import DetectionResult

JPEG_QUALITY = 90
# Distinct, readable colours; class ids cycle through them.
PALETTE = (
    (255, 56, 56), (255, 157, 151), (255, 112, 31), (255, 178, 29), (207, 210, 49),
    (72, 249, 10), (146, 204, 23), (61, 219, 134), (26, 147, 52), (0, 212, 187),
    (44, 153, 168), (0, 194, 255), (52, 69, 147), (100, 115, 255), (0, 24, 236),
    (132, 56, 255), (82, 0, 133), (203, 56, 255), (255, 149, 200), (255, 55, 199),
)  # fmt: skip


def draw(
    image: bytes,
    result: DetectionResult,
    names: Sequence[str],
    *,
    max_side: int,
    limits: ImageLimits,
) -> bytes:
    """``image`` upright with ``result``'s boxes and labels, as JPEG bytes, shrunk to fit
    ``max_side`` pixels (0: full size).

    Raises ``InvalidImageError`` / ``PayloadTooLargeError`` like detection does.
    """
    picture = preview(image, max_side=max_side, limits=limits)
    scale_x, scale_y = picture.width / result.width, picture.height / result.height
    canvas = ImageDraw.Draw(picture)
    line = max(2, round(min(picture.size) / 300))
    font = ImageFont.load_default(size=max(12, 6 * line))
    for item in result.detections.to_json(names):
        left_x, top_y, right_x, bottom_y = item["box"]
        x1, y1, x2, y2 = left_x * scale_x, top_y * scale_y, right_x * scale_x, bottom_y * scale_y
        colour = PALETTE[item["class_id"] % len(PALETTE)]
        canvas.rectangle((x1, y1, x2, y2), outline=colour, width=line)
        caption = f"{item['label']} {item['score']:.2f}"
        left, top, right, bottom = canvas.textbbox((x1, y1), caption, font=font)
        # Above the box when there is room, else just inside its top edge.
        shift = bottom - top + 2 * line if y1 - (bottom - top) - 2 * line >= 0 else 0
        canvas.rectangle((left, top - shift, right + 2 * line, bottom - shift + line), fill=colour)
        canvas.text((x1 + line, y1 - shift), caption, fill=(255, 255, 255), font=font)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def preview(image: bytes, *, max_side: int, limits: ImageLimits) -> Image.Image:
    """The upright RGB image, no more than ``max_side`` pixels on its longest side (0: full
    size).

    A bigger JPEG is decoded reduced in the DCT domain, by the power of two that leaves it
    between half of ``max_side`` and all of it: a 12-megapixel photo comes out 2000x1500
    for 2048 in 24 ms, where decoding it whole and resizing to 2048x1536 took 140-156.
    """
    fit = (max_side // 2, max_side // 2) if max_side else None
    decoded = decode.decode(image, limits=limits, fit=fit)
    x0, _, x1, _ = decoded.box
    # decoded pixels per original pixel: below 1 when the JPEG was decoded reduced
    scale = (x1 - x0) / (decoded.height if decoded.swaps_axes else decoded.width)
    ratio = scale
    if max_side:
        ratio *= min(1.0, max_side / (max(decoded.width, decoded.height) * scale))
    size = (max(1, round(decoded.width * ratio)), max(1, round(decoded.height * ratio)))
    return letterbox.resize(decoded, letterbox.Placement(*size, left=0, top=0))
