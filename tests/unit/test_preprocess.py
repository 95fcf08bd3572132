"""Letterboxing exactly as each family was trained, and undoing it exactly."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
from PIL import Image

from detector.pipeline import decode
from detector.pipeline.letterbox import (
    REDUCING_GAP,
    ULTRALYTICS_RECIPE,
    YOLOX_RECIPE,
    Placement,
    ResizeThreads,
    Transform,
    letterbox,
    place,
    resample,
)
from detector.settings import ImageLimits
from tests.unit.images import encode, solid

BIG = ImageLimits(pixels=10**9)


@pytest.mark.parametrize(
    ("size", "input_size", "expected"),
    [
        # r = min(64/50, 64/100) = 0.64: 64 x 32, pasted at the top-left
        ((100, 50), (64, 64), Placement(64, 32, 0, 0)),
        # 51 * 0.64 = 32.64: YOLOX truncates to 32
        ((100, 51), (64, 64), Placement(64, 32, 0, 0)),
        # 640x427 into 416: r = 0.65, 427 * 0.65 = 277.55 -> 277
        ((640, 427), (416, 416), Placement(416, 277, 0, 0)),
        # upscaling works the same way: r = 4
        ((10, 16), (64, 64), Placement(40, 64, 0, 0)),
    ],
)
def test_the_yolox_placement_truncates_and_sits_top_left(size, input_size, expected):
    width, height = size
    assert place(width, height, input_size, YOLOX_RECIPE) == expected


@pytest.mark.parametrize(
    ("size", "input_size", "expected"),
    [
        # 64 x 32 centred: 32 rows of padding split 16 / 16
        ((100, 50), (64, 64), Placement(64, 32, 0, 16)),
        # 51 * 0.64 = 32.64 rounds to 33; 31 rows of padding: round(15.4) = 15 above,
        # round(15.6) = 16 below
        ((100, 51), (64, 64), Placement(64, 33, 0, 15)),
        # 640x427 into 640x640: 213 rows of padding, 106.5: round(106.4) = 106 above
        ((640, 427), (640, 640), Placement(640, 427, 0, 106)),
        # a portrait image pads left and right: 50 * 0.64 = 32, 16 columns each side
        ((50, 100), (64, 64), Placement(32, 64, 16, 0)),
        # round() is Python's, as in Ultralytics: 45 * 0.5 = 22.5 goes to the even 22
        ((128, 45), (64, 64), Placement(64, 22, 0, 21)),
    ],
)
def test_the_ultralytics_placement_rounds_and_splits_the_padding(size, input_size, expected):
    width, height = size
    assert place(width, height, input_size, ULTRALYTICS_RECIPE) == expected


def test_a_yolox_tensor_is_bgr_0_to_255_with_grey_at_the_right_and_bottom():
    # GIVEN a pure red 100x50 image
    decoded = decode.decode(encode(solid(100, 50, (255, 0, 0))), limits=BIG)
    tensor, transform = letterbox(decoded, (64, 64), YOLOX_RECIPE)
    assert tensor.shape == (1, 3, 64, 64)
    assert tensor.dtype == np.float32
    # THEN the image fills rows 0-31: blue channel first, red last
    assert (tensor[0, 0, :32] == 0).all()
    assert (tensor[0, 1, :32] == 0).all()
    assert (tensor[0, 2, :32] == 255).all()
    # AND the rest is the 114 grey
    assert (tensor[0, :, 32:] == 114).all()
    assert transform == Transform(0.64, 0.64, 0, 0, 100, 50)


def test_an_ultralytics_tensor_is_rgb_0_to_1_centred():
    decoded = decode.decode(encode(solid(100, 50, (255, 0, 0))), limits=BIG)
    tensor, transform = letterbox(decoded, (64, 64), ULTRALYTICS_RECIPE)
    assert (tensor[0, 0, 16:48] == 1.0).all()
    assert (tensor[0, 1:, 16:48] == 0.0).all()
    grey = np.float32(114) / np.float32(255)
    assert (tensor[0, :, :16] == grey).all()
    assert (tensor[0, :, 48:] == grey).all()
    assert transform == Transform(0.64, 0.64, 0, 16, 100, 50)


def test_the_channels_keep_their_place_in_the_tensor():
    # GIVEN an image whose left half is red and right half blue
    image = solid(64, 64, (255, 0, 0))
    image.paste((0, 0, 255), (32, 0, 64, 64))
    decoded = decode.decode(encode(image), limits=BIG)
    tensor, _ = letterbox(decoded, (64, 64), ULTRALYTICS_RECIPE)
    # THEN red (channel 0) is on the left and blue (channel 2) on the right
    assert tensor[0, 0, 10, 5] == 1.0 and tensor[0, 2, 10, 5] == 0.0
    assert tensor[0, 0, 10, 60] == 0.0 and tensor[0, 2, 10, 60] == 1.0


def test_the_requested_dtype_is_used():
    decoded = decode.decode(encode(solid(100, 50)), limits=BIG)
    tensor, _ = letterbox(decoded, (64, 64), YOLOX_RECIPE, np.float16)
    assert tensor.dtype == np.float16


def test_undo_maps_input_pixels_back_and_clips_to_the_image():
    transform = Transform(0.64, 0.66, 0, 15, 100, 51)
    boxes = np.array([[16, 15 + 0.66 * 10, 48, 15 + 0.66 * 40], [-5, 0, 70, 64]], np.float32)
    undone = transform.undo(boxes)
    assert undone[0].tolist() == pytest.approx([25, 10, 75, 40], abs=1e-4)
    assert undone[1].tolist() == [0, 0, 100, 51]


def test_the_transform_uses_the_real_scale_of_each_axis():
    # 51 rows become 33 (Ultralytics): the vertical scale is 33/51, not the nominal 0.64
    decoded = decode.decode(encode(solid(100, 51)), limits=BIG)
    _, transform = letterbox(decoded, (64, 64), ULTRALYTICS_RECIPE)
    assert transform.scale_x == 0.64
    assert transform.scale_y == 33 / 51
    assert transform.pad_y == 15


def test_a_yolox_transform_undoes_the_one_ratio_its_labels_were_scaled_by():
    # 51 rows become int(51 * 0.64) = 32 (YOLOX), but YOLOX trained and evaluates with
    # boxes scaled by 0.64 on both axes, not by 32/51
    decoded = decode.decode(encode(solid(100, 51)), limits=BIG)
    tensor, transform = letterbox(decoded, (64, 64), YOLOX_RECIPE)
    assert (transform.scale_x, transform.scale_y) == (0.64, 0.64)
    assert (tensor[0, :, 32:] == 114).all() and (tensor[0, :, 31] != 114).any()


def test_a_reduced_jpeg_decode_keeps_the_full_size_geometry():
    # GIVEN a 3200x2400 JPEG, decoded at a quarter in the DCT domain
    decoded = decode.decode(encode(solid(3200, 2400), "JPEG"), limits=BIG, fit=(416, 416))
    assert decoded.image.size == (800, 600)
    tensor, transform = letterbox(decoded, (416, 416), YOLOX_RECIPE)
    # THEN the transform is that of the full-size image: 3200 * 0.13 = 416 wide
    assert transform == Transform(0.13, 0.13, 0, 0, 3200, 2400)
    assert (tensor[0, :, 312:] == 114).all()
    assert (tensor[0, 2, :312] > 150).all()  # the solid colour's red, through the JPEG


class CountingThreads(ResizeThreads):
    """Real threads that also record how many bands each pass was cut into."""

    def __init__(self, count: int) -> None:
        super().__init__(count)
        self.bands: list[int] = []

    def map(self, function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        self.bands.append(len(items))
        return super().map(function, items)


def noise(width: int, height: int, seed: int = 0) -> Image.Image:
    # Noise makes every filter tap count: a one-grey-level slip anywhere shows.
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    return Image.fromarray(pixels)


@pytest.mark.parametrize("count", [2, 3, 6])
@pytest.mark.parametrize(
    ("size", "out", "box", "passes"),
    [
        ((640, 480), (416, 312), None, 2),  # a COCO photo into YOLOX-Nano
        ((480, 640), (312, 416), None, 2),  # portrait
        ((427, 640), (277, 416), None, 2),  # sizes with remainders
        ((500, 375), (416, 312), (0, 0, 499.5, 374.25), 2),  # a DCT-reduced decode's box
        ((130, 200), (416, 640), None, 2),  # enlarging
        ((640, 480), (640, 312), None, 1),  # only vertically
        ((640, 480), (416, 480), None, 1),  # only horizontally
        ((640, 480), (640, 480), (0.5, 0.25, 640, 480), 2),  # same size, shifted box
    ],
)
def test_a_resize_split_across_threads_is_byte_for_byte_pillows(size, out, box, passes, count):
    # GIVEN a noisy image
    image = noise(*size)
    box = box or (0, 0, *size)
    # WHEN it is resized in bands on real threads
    threads = CountingThreads(count)
    split = resample(image, out, box, threads)
    # THEN every byte is what one Pillow call gives
    whole = image.resize(out, Image.Resampling.BILINEAR, box=box, reducing_gap=REDUCING_GAP)
    assert split.size == out and split.mode == "RGB"
    assert np.array_equal(np.asarray(split), np.asarray(whole))
    # AND the work really was split, in each pass that was needed
    assert len(threads.bands) == passes
    assert all(bands >= 2 for bands in threads.bands)


@pytest.mark.parametrize(
    ("size", "out"),
    [
        ((3000, 2000), (416, 277)),  # over twice too big: Pillow reduces first, in one call
        ((90, 60), (40, 27)),  # too small to be worth a thread
    ],
)
def test_a_resize_not_worth_splitting_is_still_pillows(size, out):
    image = noise(size[0], size[1], seed=1)
    threads = CountingThreads(2)
    split = resample(image, out, (0, 0, *size), threads)
    whole = image.resize(out, Image.Resampling.BILINEAR, reducing_gap=REDUCING_GAP)
    assert np.array_equal(np.asarray(split), np.asarray(whole))
    assert threads.bands == []  # no pass was handed to a thread


@pytest.mark.parametrize("orientation", [1, 3, 6, 8])
@pytest.mark.parametrize("recipe", [YOLOX_RECIPE, ULTRALYTICS_RECIPE])
def test_a_threaded_letterbox_gives_the_same_tensor(orientation, recipe):
    # GIVEN a photo-sized JPEG, turned by its EXIF orientation
    data = encode(noise(640, 480, seed=2), "JPEG", orientation=orientation, quality=90)
    decoded = decode.decode(data, limits=BIG, fit=(416, 416))
    # WHEN letterboxed with and without threads
    alone, transform = letterbox(decoded, (416, 416), recipe)
    threaded, threaded_transform = letterbox(decoded, (416, 416), recipe, threads=ResizeThreads(2))
    # THEN the tensors are identical
    assert np.array_equal(alone, threaded)
    assert transform == threaded_transform


def test_a_lazily_opened_image_is_resized_in_bands_without_a_loading_race():
    # GIVEN a JPEG opened but not decoded, as Image.open leaves it
    data = encode(noise(640, 480, seed=3), "JPEG", quality=90)
    expected = Image.open(io.BytesIO(data)).resize((416, 312), Image.Resampling.BILINEAR)
    for _ in range(20):  # a race shows up as a truncated-file error or wrong pixels
        lazy = Image.open(io.BytesIO(data))
        split = resample(lazy, (416, 312), (0, 0, 640, 480), ResizeThreads(2))
        assert np.array_equal(np.asarray(split), np.asarray(expected))
