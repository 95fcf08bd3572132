"""Hostile image bytes through the real decoder and the real engine.

Whatever the bytes, the engine either returns a result or raises one of the two errors the
API maps to 4xx (``InvalidImageError`` → 400, ``PayloadTooLargeError`` → 413); never
anything else, never a crash, never a huge allocation for a small file. The hypothesis
tests are derandomised (fixed seed) with their example counts written here, so a failure
reproduces on every machine.
"""

from __future__ import annotations

import resource
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.errors import InvalidImageError, PayloadTooLargeError
from detector.pipeline import decode
from detector.pipeline.engine import Detector
from detector.settings import ImageLimits
from tests.functional import hostile
from tests.functional.hostile import fuzz

REFUSALS = (InvalidImageError, PayloadTooLargeError)
LIMITS = ImageLimits()


@pytest.fixture(scope="module")
def detector(model_bytes: bytes) -> Detector:
    return Detector.from_bytes(model_bytes, threads=1)


@pytest.fixture(scope="module")
def seeds(dog_jpg: Path) -> dict[str, bytes]:
    return hostile.small_images(dog_jpg)


def decoded_or_refused(data: bytes) -> None:
    """THEN the decoder gives an RGB image of a sane size, or refuses with a 4xx error."""
    try:
        decoded = decode.decode(data, limits=LIMITS, fit=(416, 416))
    except REFUSALS:
        return
    assert decoded.image.mode == "RGB"
    assert decoded.width >= 1 and decoded.height >= 1
    assert decoded.width * decoded.height <= LIMITS.pixels


def test_every_truncation_of_every_allowed_format_is_decoded_or_refused(seeds):
    # GIVEN small real pictures as JPEG, progressive JPEG, PNG, lossy and lossless WebP
    for name, data in seeds.items():
        # WHEN each is cut off at every length THEN nothing but our refusals escapes
        for length in range(len(data)):
            try:
                decoded_or_refused(data[:length])
            except Exception as exc:  # report which cut broke it
                raise AssertionError(f"{name} cut at {length} bytes: {exc!r}") from exc


def test_truncated_images_through_the_engine_end_in_a_result_or_a_refusal(detector, seeds):
    # GIVEN the JPEG and PNG seeds cut at a spread of lengths, run through inference too
    for name in ("jpeg", "png", "webp-lossy"):
        data = seeds[name]
        for length in range(0, len(data), max(1, len(data) // 40)):
            try:
                result = detector.detect(data[:length])
            except REFUSALS:
                continue
            # THEN a partial picture that decodes is still the declared size
            assert (result.width, result.height) == (48, 36), f"{name} cut at {length}"


def test_huge_declared_dimensions_are_refused_from_the_header(detector, dog_jpg):
    # GIVEN files that claim pictures of up to 100000x100000 pixels and carry no data
    bombs = hostile.huge_headers(hostile.small_images(dog_jpg)["jpeg"])
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for name, data in bombs.items():
        # WHEN the engine is asked to detect in them THEN each is refused as too large (413)
        with pytest.raises(PayloadTooLargeError):
            detector.detect(data)
        assert len(data) < 2_000, name
    # AND refusing them allocated nothing like the pictures they claim (peak RSS in KiB)
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mib < 200


def test_a_declared_size_just_under_the_cap_with_no_data_is_refused(detector):
    # GIVEN a PNG claiming 7000x7000 (49 Mpx, under the 50 Mpx cap) with 64 bytes of data
    data = hostile.png(7_000, 7_000)
    # WHEN / THEN it is refused as an undecodable image, not served
    with pytest.raises(InvalidImageError):
        detector.detect(data)


def test_unusual_but_allowed_images_are_detected_in(detector, dog_jpg):
    # GIVEN allowed formats in odd modes (16-bit, CMYK, 1-bit, alpha, palette), animated,
    # and in extreme shapes (one pixel, one row of 4000)
    for name, (data, size) in hostile.odd_images(dog_jpg).items():
        # WHEN detecting
        result = detector.detect(data)
        # THEN the result is in the picture's own size (an animation's first frame)
        assert (result.width, result.height) == size, name


def test_formats_outside_the_allow_list_are_refused_as_invalid(detector, dog_jpg):
    # GIVEN formats Pillow would read (animated GIF, BMP, TIFF, ICO, PDF) and SVG, empty
    for name, data in hostile.refused_formats(dog_jpg).items():
        # WHEN / THEN the engine refuses them as invalid images
        with pytest.raises(InvalidImageError):
            detector.detect(data)
        assert name


@fuzz(3000)
@given(data=st.data())
def test_mutated_images_are_decoded_or_refused(seeds, data):
    # GIVEN a real small picture with a few bytes flipped, inserted, deleted or cut off
    mutant = data.draw(hostile.mutated(list(seeds.values())))
    # WHEN / THEN decoding gives a sane RGB image or one of our 4xx errors
    decoded_or_refused(mutant)


@fuzz(2000)
@given(garbage=hostile.garbage())
def test_random_bytes_behind_any_magic_number_are_refused(garbage):
    # GIVEN random bytes behind the signature of JPEG, PNG, WebP, GIF, BMP, TIFF or SVG
    # WHEN / THEN the decoder refuses them (or, vanishingly rarely, decodes a sane image)
    decoded_or_refused(garbage)


@fuzz(150)
@given(data=st.data())
def test_mutated_images_through_the_engine_end_in_a_result_or_a_refusal(detector, seeds, data):
    # GIVEN mutated pictures, this time through letterbox, inference and NMS as well
    mutant = data.draw(hostile.mutated(list(seeds.values())))
    # WHEN detecting
    try:
        result = detector.detect(mutant)
    except REFUSALS:
        return
    # THEN every box lies inside the picture
    boxes = result.detections.boxes
    assert ((boxes[:, 0::2] >= 0) & (boxes[:, 0::2] <= result.width)).all()
    assert ((boxes[:, 1::2] >= 0) & (boxes[:, 1::2] <= result.height)).all()
