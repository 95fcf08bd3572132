"""Issue 12, class 2: metadata Pillow choked on, in every container, through the real handlers.

Metadata never changes the pixels detection reads. So whatever an image's EXIF, ICC
profile, XMP, text or animation chunks hold, however broken, it decodes to exactly the
pixels of the same image without them, turned by at most a valid EXIF orientation (the
only tag we read); the API answers 200 and the S3 flow writes detections, never a retry.
And whatever Pillow itself raises while reading an image is a 400 and an error document.
Derandomised hypothesis tests with their example counts written here.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from numpy.typing import NDArray
from PIL import Image, ImageFile, PngImagePlugin

from detector.errors import InvalidImageError
from detector.pipeline import decode
from detector.settings import ImageLimits
from tests.functional import hostile
from tests.functional.conftest import UPLOADS_BUCKET
from tests.functional.hostile import (
    ASCII,
    LONG,
    ORIENTATION,
    fuzz,
    orientation_entry,
    png_chunk,
    segment,
    tiff,
)
from tests.lambdas import fresh_module

LIMITS = ImageLimits()
APP1, APP2, APP13, COM = 0xE1, 0xE2, 0xED, 0xFE
SIX = [orientation_entry(6)]
XMP_SIX = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
    b'tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>'
)
BUCKET = UPLOADS_BUCKET
MEDIA_TYPES = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@pytest.fixture(scope="module")
def picture(dog_jpg: Path) -> Image.Image:
    """Wider than tall, so a turn shows in the size."""
    return hostile.thumbnail(dog_jpg, (48, 36))


@pytest.fixture(scope="module")
def plain(picture: Image.Image) -> dict[str, bytes]:
    """The picture without metadata, per container: the references."""
    return {
        "jpeg": hostile.encoded(picture, "JPEG", quality=90),
        "png": hostile.encoded(picture, "PNG"),
        "webp": hostile.encoded(picture, "WEBP", lossless=True),
    }


@pytest.fixture(scope="module")
def pixels(plain: dict[str, bytes]) -> dict[str, NDArray[np.uint8]]:
    return {
        name: np.asarray(decode.decode(data, limits=LIMITS).image) for name, data in plain.items()
    }


def exif_in(container: str, picture: Image.Image, plain: dict[str, bytes], block: bytes) -> bytes:
    """``block`` (a TIFF structure) as the EXIF of the picture in ``container``."""
    if container == "jpeg":
        return hostile.jpeg_inserted(plain["jpeg"], segment(APP1, b"Exif\x00\x00" + block))
    if container == "png-before-pixels":
        return hostile.png_inserted(plain["png"], png_chunk(b"eXIf", block))
    if container == "png-after-pixels":
        return hostile.png_inserted(plain["png"], png_chunk(b"eXIf", block), after_image_data=True)
    return hostile.webp_with(picture, hostile.webp_chunk(b"EXIF", block), lossless=True)


EXIF_CONTAINERS = ["jpeg", "png-before-pixels", "png-after-pixels", "webp"]


def exif_cases() -> dict[str, tuple[bytes, int]]:
    """Broken EXIF blocks by hand, each with the orientation it must give."""
    valid = tiff(SIX)
    shared = [(0x9000 + tag, 1, 4000, struct.pack("<I", 0)) for tag in range(300)]
    return {
        "valid": (valid, 6),
        "valid, big-endian, as a LONG": (tiff([orientation_entry(8, ">", LONG)], order=">"), 8),
        "behind a second Exif prefix": (b"Exif\x00\x00" + valid, 6),
        "empty": (b"", 1),
        "shorter than its TIFF header": (b"II*\x00", 1),
        "cut inside the first IFD's offset": (b"MM\x00*\x00\x00", 1),
        "an unknown byte order": (b"XY" + valid[2:], 1),
        "not TIFF's 42": (valid[:2] + b"+\x00" + valid[4:], 1),
        "its first IFD past the end": (valid[:4] + struct.pack("<I", 0x7FFFFFFF) + valid[8:], 1),
        "cut inside the first entry": (valid[:14], 1),
        "65,535 entries declared, one there": (tiff(SIX, declared=65_535), 6),
        "an IFD that is its own next": (tiff(SIX, next_ifd=8), 6),
        "an EXIF sub-IFD that is the first IFD": (
            tiff([(0x8769, LONG, 1, struct.pack("<I", 8)), *SIX]),
            6,
        ),
        "300 entries sharing the same 4,000 bytes": (tiff([*shared, *SIX]) + bytes(4000), 6),
        "100 garbage entries before the orientation": (
            tiff([(0xFFFF, 0xFFFF, 0xFFFFFFFF, b"\xff" * 4)] * 100 + SIX),
            6,
        ),
        "orientation 0": (tiff([orientation_entry(0)]), 1),
        "orientation 9": (tiff([orientation_entry(9)]), 1),
        "orientation 65535": (tiff([orientation_entry(65_535)]), 1),
        "orientation as text": (tiff([(ORIENTATION, ASCII, 2, b"6\x00")]), 1),
        "orientation twice over": (tiff([orientation_entry(6, count=2)]), 1),
        "orientation of an unknown type": (tiff([(ORIENTATION, 99, 1, b"\x06\x00")]), 1),
    }


def assert_same_pixels(
    data: bytes, reference: NDArray[np.uint8], orientation: int = 1
) -> decode.DecodedImage:
    """THEN ``data`` decodes to the reference pixels, with ``orientation``'s size."""
    decoded = decode.decode(data, limits=LIMITS)
    assert decoded.orientation == orientation
    assert np.array_equal(np.asarray(decoded.image), reference)
    height, width = reference.shape[:2]
    assert (decoded.width, decoded.height) == (
        (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    )
    return decoded


def reference_of(container: str) -> str:
    return container.split("-", maxsplit=1)[0]


@pytest.mark.parametrize("container", EXIF_CONTAINERS)
def test_broken_exif_gives_the_same_pixels_turned_at_most_by_a_valid_orientation(
    container, picture, plain, pixels
):
    for name, (block, orientation) in exif_cases().items():
        # GIVEN the picture with a hand-broken EXIF block in this container
        data = exif_in(container, picture, plain, block)
        # WHEN decoded THEN its pixels are untouched and only a valid orientation counts
        try:
            assert_same_pixels(data, pixels[reference_of(container)], orientation)
        except AssertionError as failure:
            raise AssertionError(f"{container}, {name}: {failure}") from failure


@pytest.mark.parametrize("container", EXIF_CONTAINERS)
def test_an_exif_block_cut_at_every_length_reads_its_orientation_only_when_whole(
    container, picture, plain, pixels
):
    # GIVEN a valid EXIF block (orientation 6) cut at every length
    block = tiff(SIX)
    whole_entry = 8 + 2 + 12  # header, entry count, one entry
    for length in range(len(block)):
        data = exif_in(container, picture, plain, block[:length])
        # THEN the pixels are the same; the orientation counts once its entry is whole
        expected = 6 if length >= whole_entry else 1
        assert_same_pixels(data, pixels[reference_of(container)], expected)


@fuzz(300)
@given(data=st.data())
def test_mutated_exif_never_changes_the_pixels(picture, plain, pixels, data):
    # GIVEN a valid EXIF block with bytes flipped, inserted, deleted, cut or repeated
    container = data.draw(st.sampled_from(EXIF_CONTAINERS))
    block = data.draw(hostile.mutated([tiff(SIX), tiff([orientation_entry(3, ">")], order=">")]))
    # WHEN decoded THEN the pixels are the same and the orientation is one of the eight
    decoded = decode.decode(exif_in(container, picture, plain, block), limits=LIMITS)
    assert np.array_equal(np.asarray(decoded.image), pixels[reference_of(container)])
    assert 1 <= decoded.orientation <= 8


def other_metadata(
    picture: Image.Image, plain: dict[str, bytes]
) -> dict[str, tuple[str, bytes, int]]:
    """ICC profiles, XMP, text, animation and maker chunks gone wrong: name -> (container,
    bytes, the orientation to expect: only a valid EXIF one counts)."""
    jpeg, png = plain["jpeg"], plain["png"]
    noise = np.random.default_rng(12).bytes(1000)
    mpf = tiff(
        [(0xB000, 7, 4, b"0100"), (0xB001, LONG, 1, struct.pack("<I", 500)),
         (0xB002, 7, 16 * 500, struct.pack("<I", 0x7FFF0000))]
    )  # fmt: skip
    photoshop = b"8BIM\x04\x04\x00\x00\x00\x00\x00\x04abcd" * 1000 + b"8BIM\x03\xed\x00\x00\xff"
    megabyte = zlib.compress(bytes(1 << 20), 9)
    return {
        "JPEG ICC profile in 40 wrongly numbered segments": (
            "jpeg",
            hostile.jpeg_inserted(
                jpeg,
                b"".join(
                    segment(APP2, b"ICC_PROFILE\x00" + bytes([n % 7, 3]) + noise) for n in range(40)
                ),
            ),
            1,
        ),
        "JPEG multi-picture index of 500 pictures pointing nowhere": (
            "jpeg",
            hostile.jpeg_inserted(jpeg, segment(APP2, b"MPF\x00" + mpf)),
            1,
        ),
        "JPEG XMP saying orientation 6": (
            "jpeg",
            hostile.jpeg_inserted(
                jpeg, segment(APP1, b"http://ns.adobe.com/xap/1.0/\x00" + XMP_SIX)
            ),
            1,
        ),
        "JPEG Photoshop resources, the last cut off": (
            "jpeg",
            hostile.jpeg_inserted(jpeg, segment(APP13, b"Photoshop 3.0\x00" + photoshop)),
            1,
        ),
        "JPEG comments full of marker bytes": (
            "jpeg",
            hostile.jpeg_inserted(jpeg, segment(COM, b"\xff\xd9\xff\xda\xff\xd8" * 100) * 20),
            1,
        ),
        "JPEG a broken EXIF segment, then a valid one": (
            "jpeg",
            hostile.jpeg_inserted(
                jpeg,
                segment(APP1, b"Exif\x00\x00II*") + segment(APP1, b"Exif\x00\x00" + tiff(SIX)),
            ),
            1,
        ),
        "JPEG 1,000 EXIF segments": (
            "jpeg",
            hostile.jpeg_inserted(jpeg, segment(APP1, b"Exif\x00\x00" + tiff(SIX)) * 1000),
            6,
        ),
        "JPEG fill bytes and junk between segments": (
            "jpeg",
            hostile.jpeg_inserted(jpeg, b"junk\x00" * 500 + b"\xff" * 5000, before=3),
            1,
        ),
        "PNG iCCP whose zlib stream is garbage": (
            "png",
            hostile.png_inserted(png, png_chunk(b"iCCP", b"p\x00\x00not zlib")),
            1,
        ),
        "PNG iCCP inflating to 1 MB, 50 times": (
            "png",
            hostile.png_inserted(png, png_chunk(b"iCCP", b"p\x00\x00" + megabyte) * 50),
            1,
        ),
        "PNG zTXt inflating to 1 MB, 70 times (over Pillow's 64 MB)": (
            "png",
            hostile.png_inserted(png, png_chunk(b"zTXt", b"k\x00\x00" + megabyte) * 70),
            1,
        ),
        "PNG iTXt XMP saying orientation 6": (
            "png",
            hostile.png_inserted(
                png, png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP_SIX)
            ),
            1,
        ),
        "PNG colour chunks of the wrong lengths": (
            "png",
            hostile.png_inserted(
                png,
                png_chunk(b"sRGB", b"")
                + png_chunk(b"gAMA", b"\x00")
                + png_chunk(b"cHRM", b"x")
                + png_chunk(b"pHYs", b""),
            ),
            1,
        ),
        "PNG animation of 2**31 frames with a garbage frame control": (
            "png",
            hostile.png_inserted(
                png,
                png_chunk(b"acTL", struct.pack(">II", 2**31 - 1, 0))
                + png_chunk(b"fcTL", noise[:26]),
            ),
            1,
        ),
        "PNG text chunk with a bad CRC": (
            "png",
            hostile.png_inserted(png, png_chunk(b"tEXt", b"k\x00v")[:-4] + b"\x00\x00\x00\x00"),
            1,
        ),
        "PNG eXIf twice, the first broken": (
            "png",
            hostile.png_inserted(png, png_chunk(b"eXIf", b"MM") + png_chunk(b"eXIf", tiff(SIX))),
            1,
        ),
        "WebP ICC profile of noise": (
            "webp",
            hostile.encoded(picture, "WEBP", lossless=True, icc_profile=noise),
            1,
        ),
        "WebP XMP saying orientation 6": (
            "webp",
            hostile.encoded(picture, "WEBP", lossless=True, xmp=XMP_SIX),
            1,
        ),
        "WebP EXIF saying 3, XMP saying 6": (
            "webp",
            hostile.encoded(
                picture, "WEBP", lossless=True, exif=tiff([orientation_entry(3)]), xmp=XMP_SIX
            ),
            3,
        ),
    }


def test_broken_icc_xmp_text_and_animation_chunks_leave_the_pixels_alone(picture, plain, pixels):
    for name, (container, data, orientation) in other_metadata(picture, plain).items():
        try:
            assert_same_pixels(data, pixels[container], orientation)
        except AssertionError as failure:
            raise AssertionError(f"{name}: {failure}") from failure


PNG_KINDS = [b"eXIf", b"iCCP", b"zTXt", b"iTXt", b"tEXt", b"sRGB", b"gAMA", b"acTL", b"fcTL"]


@st.composite
def metadata_blobs(
    draw: st.DrawFn, plain: dict[str, bytes], picture: Image.Image
) -> tuple[str, bytes]:
    """The picture in some container with random metadata pieces of random content."""
    container = draw(st.sampled_from(["jpeg", "png", "webp"]))
    if container == "jpeg":
        markers = st.sampled_from([APP1, APP2, 0xE3, 0xEC, APP13, 0xEF, COM])
        pieces = draw(st.lists(st.tuples(markers, st.binary(max_size=300)), min_size=1, max_size=6))
        prefixes = [b"", b"Exif\x00\x00", b"ICC_PROFILE\x00", b"MPF\x00", b"Photoshop 3.0\x00"]
        extra = b"".join(segment(m, draw(st.sampled_from(prefixes)) + body) for m, body in pieces)
        return container, hostile.jpeg_inserted(plain["jpeg"], extra)
    if container == "png":
        pixel_kinds = {b"IHDR", b"PLTE", b"IDAT", b"IEND"}  # not metadata: they are the image
        kinds = st.sampled_from(PNG_KINDS) | st.binary(min_size=4, max_size=4).filter(
            lambda kind: kind not in pixel_kinds
        )
        typed = draw(st.lists(st.tuples(kinds, st.binary(max_size=300)), min_size=1, max_size=6))
        chunks = b"".join(png_chunk(kind, body) for kind, body in typed)
        return container, hostile.png_inserted(
            plain["png"], chunks, after_image_data=draw(st.booleans())
        )
    exif, icc, xmp = (draw(st.binary(min_size=1, max_size=300)) for _ in range(3))
    return container, hostile.encoded(
        picture, "WEBP", lossless=True, exif=exif, icc_profile=icc, xmp=xmp
    )


def test_random_metadata_in_any_container_never_changes_the_pixels(picture, plain, pixels):
    @fuzz(300)
    @given(case=metadata_blobs(plain, picture))
    def check(case: tuple[str, bytes]) -> None:
        container, data = case
        decoded = decode.decode(data, limits=LIMITS)
        assert np.array_equal(np.asarray(decoded.image), pixels[container])
        assert 1 <= decoded.orientation <= 8

    check()


# --- the real handlers -----------------------------------------------------------------------
@pytest.fixture
def api(handler_env: pytest.MonkeyPatch) -> ModuleType:
    return fresh_module("detector.handlers.api")


def every_broken_image(
    picture: Image.Image, plain: dict[str, bytes]
) -> dict[str, tuple[str, bytes, int]]:
    cases = {
        f"{container}, EXIF {name}": (
            reference_of(container),
            exif_in(container, picture, plain, block),
            orientation,
        )
        for container in EXIF_CONTAINERS
        for name, (block, orientation) in exif_cases().items()
    }
    return {**cases, **other_metadata(picture, plain)}


def test_broken_metadata_through_the_api_is_answered_200_in_the_upright_size(
    api, lambda_context, picture, plain
):
    for name, (container, data, orientation) in every_broken_image(picture, plain).items():
        # GIVEN an image with broken metadata WHEN posted to /detect
        status, document = hostile.detected(api, data, lambda_context, MEDIA_TYPES[container])
        # THEN it is detected in, in the size the valid orientation (if any) gives
        assert status == 200, (name, document)
        turned = orientation in (5, 6, 7, 8)
        assert (document["width"], document["height"]) == ((36, 48) if turned else (48, 36)), name


def test_broken_metadata_uploaded_to_s3_gets_detections_and_no_retry(
    uploads_handler, s3, lambda_context, picture, plain
):
    for index, (name, (_, data, _)) in enumerate(every_broken_image(picture, plain).items()):
        # GIVEN an image with broken metadata uploaded WHEN the S3 handler is notified
        document = hostile.uploaded(
            uploads_handler, s3, BUCKET, f"uploads/{index}.img", data, lambda_context
        )
        # THEN no message is retried and the result holds detections, not an error
        assert "detections" in document and "error" not in document, (name, document)


# --- whatever Pillow raises ----------------------------------------------------------------
PILLOW_FAILURES = [
    struct.error("unpack requires a buffer of 4 bytes"),
    IndexError("list index out of range"),
    KeyError(274),
    TypeError("unsupported operand type(s)"),
    ZeroDivisionError("division by zero"),
    EOFError(),
    RecursionError("maximum recursion depth exceeded"),
    MemoryError(),
    AssertionError(),
]
STAGES: dict[str, tuple[Any, str]] = {
    "open": (PngImagePlugin.PngImageFile, "_open"),
    "load": (ImageFile.ImageFile, "load"),
    "convert": (Image.Image, "convert"),
}


def raising(failure: BaseException) -> Callable[..., Any]:
    def fail(*_: object, **__: object) -> Any:
        raise failure

    return fail


@pytest.mark.parametrize("failure", PILLOW_FAILURES, ids=lambda failure: type(failure).__name__)
@pytest.mark.parametrize("stage", list(STAGES))
def test_whatever_pillow_raises_while_reading_is_an_invalid_image(
    monkeypatch, picture, stage, failure
):
    # GIVEN a greyscale PNG (so that it is converted too), and Pillow failing at one stage
    data = hostile.encoded(picture.convert("L"), "PNG")
    monkeypatch.setattr(*STAGES[stage], raising(failure))
    # WHEN / THEN decoding it is refused as an invalid image (a 400), nothing else
    with pytest.raises(InvalidImageError):
        decode.decode(data, limits=LIMITS)


def test_pillow_failing_is_a_400_through_the_api_and_an_error_document_from_s3(
    api, uploads_handler, s3, lambda_context, picture, monkeypatch
):
    data = hostile.encoded(picture, "PNG")
    monkeypatch.setattr(
        ImageFile.ImageFile, "load", raising(struct.error("unpack requires a buffer"))
    )
    status, document = hostile.detected(api, data, lambda_context, "image/png")
    assert (status, document["error"]["code"]) == (400, "invalid_image")
    result = hostile.uploaded(
        uploads_handler, s3, BUCKET, "uploads/broken.png", data, lambda_context
    )
    assert result["error"]["code"] == "invalid_image"
