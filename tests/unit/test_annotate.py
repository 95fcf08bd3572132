"""Drawing detections on the image."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from detector.pipeline import annotate
from detector.pipeline.detections import Detections
from detector.pipeline.engine import DetectionResult
from detector.settings import ImageLimits
from tests.unit.images import encode, solid

IMAGE_LIMITS = ImageLimits()


def result_with_box(width: int, height: int, box: list[float]) -> DetectionResult:
    return DetectionResult(
        width=width,
        height=height,
        detections=Detections(
            boxes=np.array([box], dtype=np.float32),
            scores=np.array([0.9], dtype=np.float32),
            class_ids=np.array([0], dtype=np.int64),
        ),
        timing_ms={},
    )


def test_boxes_are_drawn_where_the_detections_are_on_an_upright_jpeg():
    # GIVEN a white 200x100 picture stored rotated (EXIF 6), and a box in upright pixels
    stored = encode(solid(100, 200, (255, 255, 255)), "JPEG", orientation=6, quality=95)
    result = result_with_box(200, 100, [50, 40, 150, 90])
    # WHEN annotating
    jpeg = annotate.draw(stored, result, ["person"], max_side=2048, limits=IMAGE_LIMITS)
    # THEN the output is an upright JPEG with the box outline coloured, the inside white
    picture = Image.open(io.BytesIO(jpeg))
    assert picture.format == "JPEG"
    assert picture.size == (200, 100)
    pixels = np.asarray(picture.convert("RGB")).astype(int)
    assert pixels[65, 50].tolist() != [255, 255, 255]  # on the left edge
    assert abs(pixels[65, 50] - annotate.colour(0)).max() < 40
    assert (pixels[65, 100] > 240).all()  # inside the box
    assert (pixels[95, 10] > 240).all()  # far from it


def test_no_detections_gives_back_the_picture():
    empty = DetectionResult(40, 30, Detections.empty(), {})
    drawn = annotate.draw(encode(solid(40, 30)), empty, [], max_side=2048, limits=IMAGE_LIMITS)
    picture = Image.open(io.BytesIO(drawn))
    assert picture.size == (40, 30)


def test_a_big_photo_is_drawn_as_a_preview_with_the_boxes_scaled_to_it():
    # GIVEN a white 4000x3000 JPEG stored turned (EXIF 6: upright it is 3000x4000), and a
    # box in upright original pixels
    stored = encode(solid(4000, 3000, (255, 255, 255)), "JPEG", orientation=6, quality=90)
    result = result_with_box(3000, 4000, [600, 1000, 2400, 3000])
    # WHEN annotating with at most 400 pixels on the longest side
    jpeg = annotate.draw(stored, result, ["person"], max_side=400, limits=IMAGE_LIMITS)
    # THEN the drawing is upright, 300x400, with the box outline a tenth of the way in
    picture = Image.open(io.BytesIO(jpeg))
    assert picture.size == (300, 400)
    pixels = np.asarray(picture.convert("RGB")).astype(int)
    # (a 2-pixel red line through JPEG's halved chroma: red, not the palette's exact red)
    assert pixels[200, 60, 0] - pixels[200, 60, 1] > 100  # left edge, x = 600 / 10
    assert pixels[200, 239, 0] - pixels[200, 239, 1] > 90  # right edge, x = 2400 / 10, inward
    assert (pixels[200, 150] > 240).all()  # inside the box
    assert (pixels[200, 40] > 240).all()  # outside it
    assert (pixels[350, 150] > 240).all()  # below it (y = 3000 / 10 = 300)


def test_max_side_zero_draws_at_full_size_and_small_images_are_never_enlarged():
    image = encode(solid(2100, 50), "PNG")
    empty = DetectionResult(2100, 50, Detections.empty(), {})
    for max_side, size in [(0, (2100, 50)), (2048, (2048, 49)), (4000, (2100, 50))]:
        drawn = annotate.draw(image, empty, [], max_side=max_side, limits=IMAGE_LIMITS)
        assert Image.open(io.BytesIO(drawn)).size == size


@pytest.mark.parametrize("orientation", [1, 6])
@pytest.mark.parametrize("max_side", [2048, 300])
@pytest.mark.parametrize(
    "stored", [(2100, 1400), (4032, 3024), (4001, 2999), (1000, 800), (9000, 600)]
)
def test_a_jpeg_preview_is_between_half_and_all_of_max_side_in_its_own_shape(
    stored, max_side, orientation
):
    # GIVEN a JPEG of this stored size, upright as it is or turned (EXIF 6)
    jpeg = encode(solid(*stored), "JPEG", orientation=orientation, quality=80)
    size = stored if orientation == 1 else stored[::-1]
    # WHEN taking its preview
    picture = annotate.preview(jpeg, max_side=max_side, limits=IMAGE_LIMITS)
    # THEN it keeps its size when it fits, else it shrinks to between half and all of
    # max_side, keeping its shape to the pixel
    longest = max(picture.size)
    if max(size) <= max_side:
        assert picture.size == size
    else:
        assert max_side // 2 <= longest <= max_side
    ratio = longest / max(size)
    assert abs(picture.width - size[0] * ratio) <= 1
    assert abs(picture.height - size[1] * ratio) <= 1


def two_overlapping(best_first: bool = True) -> DetectionResult:
    """A dog (0.9) and, 2 px lower and right, a cat (0.5): their labels overlap."""
    rows = [([40, 40, 160, 90], 0.9, 16), ([42, 42, 162, 92], 0.5, 15)]
    if not best_first:
        rows.reverse()
    return DetectionResult(
        width=200,
        height=100,
        detections=Detections(
            boxes=np.array([box for box, _, _ in rows], dtype=np.float32),
            scores=np.array([score for _, score, _ in rows], dtype=np.float32),
            class_ids=np.array([class_id for _, _, class_id in rows], dtype=np.int64),
        ),
        timing_ms={},
    )


@pytest.mark.parametrize("best_first", [True, False], ids=["nms-order", "reversed"])
def test_the_best_label_is_drawn_last_on_top_of_the_weaker_ones(best_first):
    # GIVEN two boxes whose labels overlap, in whatever order the detections come
    names = [f"class_{i}" for i in range(15)] + ["cat", "dog"]
    white = encode(solid(200, 100, (255, 255, 255)), "PNG")
    # WHEN drawn
    jpeg = annotate.draw(
        white, two_overlapping(best_first), names, max_side=2048, limits=IMAGE_LIMITS
    )
    # THEN the label band above the boxes is the dog's colour, not the cat's
    pixels = np.asarray(Image.open(io.BytesIO(jpeg)).convert("RGB")).astype(int)
    band = pixels[30:40, 45:160].reshape(-1, 3)
    near = {
        class_id: int((abs(band - annotate.colour(class_id)).max(axis=1) < 40).sum())
        for class_id in (15, 16)
    }
    assert near[16] > 5 * max(near[15], 1), near


def test_neighbouring_classes_get_far_apart_colours_with_readable_text():
    colours = [annotate.colour(class_id) for class_id in range(81)]
    # neighbouring ids (car, motorcycle, airplane ...) are never near in colour
    nearest = min(
        float(np.linalg.norm(np.subtract(colours[i], colours[j])))
        for i in range(80)
        for j in range(i + 1, min(i + 4, 81))
    )
    assert nearest > 100
    # and the label text contrasts with every class colour at WCAG's 4.5 or better
    for background in colours:
        text = annotate.text_colour(background)
        lighter, darker = sorted(
            (annotate.relative_luminance(background), annotate.relative_luminance(text)),
            reverse=True,
        )
        assert (lighter + 0.05) / (darker + 0.05) >= 4.5
