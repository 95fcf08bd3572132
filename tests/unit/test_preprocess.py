"""Letterboxing exactly as each family was trained, and undoing it exactly."""

from __future__ import annotations

import numpy as np
import pytest

from detector import imageio
from detector.preprocess import (
    ULTRALYTICS_RECIPE,
    YOLOX_RECIPE,
    Placement,
    Transform,
    letterbox,
    place,
)
from tests.unit.images import encode, solid

BIG = 10**9


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
    decoded = imageio.decode(encode(solid(100, 50, (255, 0, 0))), max_pixels=BIG)
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
    decoded = imageio.decode(encode(solid(100, 50, (255, 0, 0))), max_pixels=BIG)
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
    decoded = imageio.decode(encode(image), max_pixels=BIG)
    tensor, _ = letterbox(decoded, (64, 64), ULTRALYTICS_RECIPE)
    # THEN red (channel 0) is on the left and blue (channel 2) on the right
    assert tensor[0, 0, 10, 5] == 1.0 and tensor[0, 2, 10, 5] == 0.0
    assert tensor[0, 0, 10, 60] == 0.0 and tensor[0, 2, 10, 60] == 1.0


def test_the_requested_dtype_is_used():
    decoded = imageio.decode(encode(solid(100, 50)), max_pixels=BIG)
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
    decoded = imageio.decode(encode(solid(100, 51)), max_pixels=BIG)
    _, transform = letterbox(decoded, (64, 64), ULTRALYTICS_RECIPE)
    assert transform.scale_x == 0.64
    assert transform.scale_y == 33 / 51
    assert transform.pad_y == 15


def test_a_reduced_jpeg_decode_keeps_the_full_size_geometry():
    # GIVEN a 3200x2400 JPEG, decoded at a quarter in the DCT domain
    decoded = imageio.decode(encode(solid(3200, 2400), "JPEG"), max_pixels=BIG, fit=(416, 416))
    assert decoded.image.size == (800, 600)
    tensor, transform = letterbox(decoded, (416, 416), YOLOX_RECIPE)
    # THEN the transform is that of the full-size image: 3200 * 0.13 = 416 wide
    assert transform == Transform(0.13, 0.13, 0, 0, 3200, 2400)
    assert (tensor[0, :, 312:] == 114).all()
    assert (tensor[0, 2, :312] > 150).all()  # the solid colour's red, through the JPEG
