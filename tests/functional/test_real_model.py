"""The real COCO-pretrained YOLOX-Nano on real photos."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import Image

from detector.errors import InvalidImageError, PayloadTooLargeError
from detector.pipeline.engine import DetectionResult, DetectOptions, Detector, inspect_model
from detector.pipeline.families import parse_names
from detector.settings import ImageLimits


@pytest.fixture(scope="module")
def detector(model_bytes, coco_dir) -> Detector:
    names = parse_names((coco_dir / "names.txt").read_text())
    return Detector.from_bytes(model_bytes, names=names)


def labels_over(result: DetectionResult, names: tuple[str, ...], threshold: float) -> set[str]:
    detections = result.detections
    return {
        names[c]
        for c, s in zip(detections.class_ids, detections.scores, strict=True)
        if s > threshold
    }


def test_the_sample_model_is_inspected_as_raw_yolox(model_bytes):
    info = inspect_model(model_bytes)
    assert info.family == "yolox"
    assert info.input_name == "images"
    assert info.input_size == (416, 416)
    assert len(info.class_names) == 80


def test_the_street_photo_shows_a_dog_a_bicycle_and_a_car(detector, dog_jpg):
    result = detector.detect(dog_jpg.read_bytes())
    assert (result.width, result.height) == (768, 576)
    assert {"dog", "bicycle", "car"} <= labels_over(result, detector.info.class_names, 0.8)
    dog = list(result.detections.class_ids).index(16)
    x1, y1, x2, y2 = result.detections.boxes[dog]
    # The dog sits in the lower left of the photo.
    assert 100 < x1 < 160 and 190 < y1 < 230 and 300 < x2 < 350 and 520 < y2 < 560
    assert set(result.timing_ms) == {"decode", "preprocess", "inference", "postprocess", "total"}


def test_a_decoded_image_gives_the_same_detections(detector, dog_jpg):
    from_bytes = detector.detect(dog_jpg.read_bytes())
    from_image = detector.detect_image(Image.open(dog_jpg))
    assert from_image.detections.class_ids.tolist() == from_bytes.detections.class_ids.tolist()
    assert from_image.detections.boxes == pytest.approx(from_bytes.detections.boxes)


def test_a_12_megapixel_photo_decoded_reduced_finds_the_same_objects(detector, dog_jpg):
    # GIVEN the sample upscaled to 4000x3000, so the decoder may take an 8x shortcut
    small = Image.open(dog_jpg)
    out = io.BytesIO()
    small.resize((4000, 3000), Image.Resampling.LANCZOS).save(out, "JPEG", quality=92)
    # WHEN detecting on both
    reference = detector.detect(dog_jpg.read_bytes())
    big = detector.detect(out.getvalue())
    # THEN the same objects come back at the same places, scaled
    assert (big.width, big.height) == (4000, 3000)
    names = detector.info.class_names
    assert labels_over(big, names, 0.5) == labels_over(reference, names, 0.5)
    scale = 4000 / 768
    for class_id, box in zip(
        reference.detections.class_ids, reference.detections.boxes, strict=True
    ):
        if class_id in (1, 2, 16):
            index = list(big.detections.class_ids).index(class_id)
            assert big.detections.boxes[index] == pytest.approx(box * scale, abs=0.02 * 4000)


def test_a_stricter_threshold_and_max_det_narrow_the_result(detector, dog_jpg):
    result = detector.detect(dog_jpg.read_bytes(), DetectOptions(conf=0.5, max_det=2))
    assert len(result.detections) == 2
    assert result.detections.scores.tolist() == sorted(result.detections.scores, reverse=True)


def test_bad_images_raise_typed_errors(model_bytes, dog_jpg):
    small_cap = Detector.from_bytes(model_bytes, limits=ImageLimits(pixels=1000))
    with pytest.raises(PayloadTooLargeError):
        small_cap.detect(dog_jpg.read_bytes())
    with pytest.raises(InvalidImageError):
        small_cap.detect(b"GIF89a")
    with pytest.raises(PayloadTooLargeError):
        small_cap.detect_image(Image.open(dog_jpg))


def test_detections_are_the_same_when_requests_share_the_resize_threads(detector, coco_dir):
    # GIVEN several real photos, detected one at a time
    images = [p.read_bytes() for p in sorted((coco_dir / "images").glob("*.jpg"))[:8]]
    alone = [detector.detect(data) for data in images]
    # WHEN the same photos are detected from four threads at once
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(detector.detect, images * 3))
    # THEN every result is the one-at-a-time result
    for index, result in enumerate(together):
        expected = alone[index % len(images)]
        assert result.detections.class_ids.tolist() == expected.detections.class_ids.tolist()
        assert result.detections.boxes == pytest.approx(expected.detections.boxes, abs=1e-3)
