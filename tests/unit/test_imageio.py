"""Decoding untrusted image bytes: formats, modes, EXIF, limits."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from detector.errors import InvalidImageError, PayloadTooLargeError
from detector.pipeline import decode
from detector.settings import ImageLimits
from tests.unit.images import encode, solid

BIG = ImageLimits(pixels=50_000_000)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_allowed_formats_decode_to_rgb(fmt):
    decoded = decode.decode(encode(solid(40, 30), fmt), limits=BIG)
    assert (decoded.width, decoded.height) == (40, 30)
    assert decoded.image.mode == "RGB"


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "TIFF", "ICO"])
def test_other_formats_are_refused_even_though_pillow_reads_them(fmt):
    with pytest.raises(InvalidImageError, match="not a JPEG, PNG or WebP"):
        decode.decode(encode(solid(16, 16), fmt), limits=BIG)


def test_garbage_and_truncated_images_are_invalid():
    noise = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    jpeg = encode(Image.fromarray(noise), "JPEG")
    with pytest.raises(InvalidImageError):
        decode.decode(b"hello", limits=BIG)
    with pytest.raises(InvalidImageError, match="could not be decoded"):
        decode.decode(jpeg[: len(jpeg) // 2], limits=BIG)


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a size in its header and has no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(b""))
        + _chunk(b"IEND", b"")
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_the_pixel_cap_is_checked_from_the_header_before_decoding():
    # A bomb: 10k x 6k claimed. The cap refuses it from the header alone (the file has
    # no pixel data, so decoding would have failed differently).
    with pytest.raises(PayloadTooLargeError, match="10000x6000: more than 50,000,000 pixels"):
        decode.decode(png_header_only(10_000, 6_000), limits=BIG)


def test_a_huge_bomb_stopped_by_pillow_itself_is_also_too_large():
    with pytest.raises(PayloadTooLargeError, match="more than 50,000,000 pixels"):
        decode.decode(png_header_only(100_000, 100_000), limits=BIG)


def test_the_cap_is_configurable():
    with pytest.raises(PayloadTooLargeError):
        decode.decode(encode(solid(40, 30)), limits=ImageLimits(pixels=40 * 30 - 1))
    assert decode.decode(encode(solid(40, 30)), limits=ImageLimits(pixels=40 * 30)).width == 40


@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (40, 30)), (3, (40, 30)), (6, (30, 40)), (8, (30, 40))]
)
def test_exif_orientation_gives_the_upright_size(orientation, size):
    data = encode(solid(40, 30), "JPEG", orientation=orientation)
    decoded = decode.decode(data, limits=BIG)
    assert (decoded.width, decoded.height) == size
    assert decoded.oriented(decoded.image).size == size


def test_exif_orientation_turns_the_pixels():
    # GIVEN a 2x1 image, red left and blue right, stored with "rotate 90 clockwise"
    image = Image.new("RGB", (2, 1))
    image.putpixel((0, 0), (255, 0, 0))
    image.putpixel((1, 0), (0, 0, 255))
    decoded = decode.decode(encode(image, "PNG", orientation=6), limits=BIG)
    upright = np.asarray(decoded.oriented(decoded.image))
    # THEN upright it is 1 wide, 2 tall: red on top
    assert upright.shape == (2, 1, 3)
    assert upright[0, 0].tolist() == [255, 0, 0]
    assert upright[1, 0].tolist() == [0, 0, 255]


@pytest.mark.parametrize(
    ("mode", "colour", "fmt"),
    [
        ("L", 128, "PNG"),
        ("LA", (128, 255), "PNG"),
        ("RGBA", (10, 20, 30, 0), "PNG"),
        ("P", 3, "PNG"),
        ("CMYK", (0, 255, 255, 0), "JPEG"),
        ("1", 1, "PNG"),
        ("RGBA", (10, 20, 30, 128), "WEBP"),
    ],
)
def test_every_stored_mode_becomes_rgb(mode, colour, fmt):
    decoded = decode.decode(encode(solid(8, 8, colour, mode), fmt), limits=BIG)
    assert decoded.image.mode == "RGB"
    assert decoded.image.size == (8, 8)


def test_cmyk_red_stays_red():
    decoded = decode.decode(encode(solid(8, 8, (0, 255, 255, 0), "CMYK"), "JPEG"), limits=BIG)
    r, g, b = np.asarray(decoded.image)[4, 4].tolist()
    assert r > 200 and g < 60 and b < 60


def test_sixteen_bit_grey_is_scaled_not_clipped():
    # GIVEN a 16-bit greyscale PNG at half brightness (32768 of 65535)
    grey = Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))
    decoded = decode.decode(encode(grey, "PNG"), limits=BIG)
    # THEN it decodes to mid grey, not white
    assert np.asarray(decoded.image)[0, 0].tolist() == [128, 128, 128]


def test_a_big_jpeg_is_decoded_reduced_in_the_dct_domain_when_the_model_is_small():
    data = encode(solid(3200, 2400), "JPEG")
    decoded = decode.decode(data, limits=BIG, fit=(416, 416))
    # The model needs 416x312; an eighth (400x300) would be less, so a quarter it is.
    assert decoded.image.size == (800, 600)
    assert (decoded.width, decoded.height) == (3200, 2400)


def test_a_jpeg_close_to_the_model_size_is_decoded_whole():
    decoded = decode.decode(encode(solid(640, 480), "JPEG"), limits=BIG, fit=(416, 416))
    assert decoded.image.size == (640, 480)


def test_a_multi_picture_phone_jpeg_decodes_its_first_picture_reduced():
    # GIVEN an MPO file (what many phones write): a JPEG followed by a second picture
    out = io.BytesIO()
    solid(3200, 2400, (200, 30, 60)).save(
        out, "MPO", save_all=True, append_images=[solid(3200, 2400, (0, 0, 0))]
    )
    decoded = decode.decode(out.getvalue(), limits=BIG, fit=(416, 416))
    assert decoded.image.size == (800, 600)
    assert np.asarray(decoded.image)[10, 10].tolist() == pytest.approx([200, 30, 60], abs=4)


def test_a_lazily_opened_image_is_loaded_once_when_wrapped():
    # GIVEN an image opened but not yet decoded (Image.open reads only the header)
    lazy = Image.open(io.BytesIO(encode(solid(640, 480), "JPEG")))
    # WHEN wrapped for detection
    wrapped = decode.from_pil(lazy, max_pixels=BIG.pixels)
    # THEN its pixels are in memory: threads may share it without reading the file
    assert wrapped.image.im is not None
    pixel = wrapped.image.getpixel((320, 240))
    assert isinstance(pixel, tuple) and pixel[0] > 150


def test_a_truncated_image_opened_lazily_is_an_invalid_image():
    data = encode(solid(640, 480), "PNG")
    lazy = Image.open(io.BytesIO(data[: len(data) // 2]))
    with pytest.raises(InvalidImageError, match="could not be decoded"):
        decode.from_pil(lazy, max_pixels=BIG.pixels)


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L", "I"])
def test_wide_greyscale_of_any_byte_order_keeps_its_high_byte(mode):
    # GIVEN greys across the whole range (and, in 32 bits, beyond it both ways)
    values = [0, 255, 256, 32768, 65280, 65535]
    if mode == "I":
        values += [-5, 70_000, 2**31 - 1]
    image = Image.new(mode, (len(values), 1))
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)
    # WHEN made RGB
    rgb = np.asarray(decode.to_rgb(image))
    # THEN each is its value clipped to 16 bits, shifted down by 8, in all three channels
    expected = (np.clip(values, 0, 65535) >> 8).tolist()
    assert rgb[0, :, 0].tolist() == expected
    assert (rgb == rgb[..., :1]).all()


def test_a_palette_image_with_transparency_keeps_its_colours_and_its_caller_s_info():
    # GIVEN a palette image whose index 0 is marked transparent (alpha is dropped anyway)
    image = Image.new("P", (4, 4), 1)
    image.putpalette([0, 0, 0, 200, 30, 60])
    image.info["transparency"] = 0
    # WHEN made RGB
    rgb = np.asarray(decode.to_rgb(image))
    # THEN the palette colours come out, and the caller's image is left as it was
    assert rgb[0, 0].tolist() == [200, 30, 60]
    assert image.info["transparency"] == 0
