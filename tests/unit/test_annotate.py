"""Drawing detections on the image."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from detector import annotate
from detector.detections import Detections
from detector.engine import DetectionResult
from tests.unit.images import encode, solid


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
    jpeg = annotate.draw(stored, result, ["person"])
    # THEN the output is an upright JPEG with the box outline coloured, the inside white
    picture = Image.open(io.BytesIO(jpeg))
    assert picture.format == "JPEG"
    assert picture.size == (200, 100)
    pixels = np.asarray(picture.convert("RGB")).astype(int)
    assert pixels[65, 50].tolist() != [255, 255, 255]  # on the left edge
    assert abs(pixels[65, 50] - annotate.PALETTE[0]).max() < 40
    assert (pixels[65, 100] > 240).all()  # inside the box
    assert (pixels[95, 10] > 240).all()  # far from it


def test_no_detections_gives_back_the_picture():
    empty = DetectionResult(40, 30, Detections.empty(), {})
    picture = Image.open(io.BytesIO(annotate.draw(encode(solid(40, 30)), empty, [])))
    assert picture.size == (40, 30)
