"""Draw detections on the image they came from: boxes and labels, returned as JPEG.

The drawing is a preview, no bigger than ``max_side`` on its longest side: a full-size
12-megapixel drawing took 110 ms and could pass Lambda's 6 MB response limit once base64
encoded. The best detection is drawn last, so that its label is the one on top where
boxes overlap; each class has the colour the demo page gives it.
"""

from __future__ import annotations

import colorsys
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

from PIL import Image, ImageDraw, ImageFont

from detector.pipeline import decode, letterbox
from detector.settings import ImageLimits

if TYPE_CHECKING:
    from detector.pipeline.engine import DetectionResult

JPEG_QUALITY = 90
# Class colours: hues a golden angle apart, so that neighbouring class ids (often related
# classes: car, motorcycle, airplane) are never near in hue, as a fixed 20-colour palette's
# neighbours were; static/index.html computes the same. At this saturation and lightness,
# black or white text keeps a WCAG contrast of at least 4.6 on every hue.
GOLDEN_ANGLE = 137.508
SATURATION, LIGHTNESS = 0.85, 0.45
Colour = tuple[int, int, int]
BLACK: Colour = (0, 0, 0)
WHITE: Colour = (255, 255, 255)


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
    # Lowest score first: the best box and its label are drawn last, on top.
    for item in sorted(result.detections.to_json(names), key=lambda item: item["score"]):
        left_x, top_y, right_x, bottom_y = item["box"]
        x1, y1, x2, y2 = left_x * scale_x, top_y * scale_y, right_x * scale_x, bottom_y * scale_y
        background = colour(item["class_id"])
        canvas.rectangle((x1, y1, x2, y2), outline=background, width=line)
        caption = f"{item['label']} {item['score']:.2f}"
        left, top, right, bottom = canvas.textbbox((x1, y1), caption, font=font)
        # Above the box when there is room, else just inside its top edge.
        shift = bottom - top + 2 * line if y1 - (bottom - top) - 2 * line >= 0 else 0
        label = (left, top - shift, right + 2 * line, bottom - shift + line)
        canvas.rectangle(label, fill=background)
        canvas.text((x1 + line, y1 - shift), caption, fill=text_colour(background), font=font)
    out = io.BytesIO()
    picture.save(out, format="JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def colour(class_id: int) -> Colour:
    """The colour of a class: its hue a golden angle on from the previous class's."""
    hue = (class_id * GOLDEN_ANGLE) % 360 / 360
    red, green, blue = colorsys.hls_to_rgb(hue, LIGHTNESS, SATURATION)
    # int(x + 0.5) rounds as the page's Math.round does (round() would round half to even).
    return int(red * 255 + 0.5), int(green * 255 + 0.5), int(blue * 255 + 0.5)


def text_colour(background: Colour) -> Colour:
    """Black or white, whichever contrasts more with ``background`` (WCAG 2 luminance)."""
    lit = relative_luminance(background)
    return BLACK if (lit + 0.05) / 0.05 > 1.05 / (lit + 0.05) else WHITE


def relative_luminance(rgb: Colour) -> float:
    def linear(channel: int) -> float:
        value = channel / 255
        return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4

    red, green, blue = (linear(channel) for channel in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


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
