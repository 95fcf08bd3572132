"""Issue 12, class 3: decoding is bounded in time and memory, whatever arrives.

Time is bounded by what the decoder is allowed to see: at most ``ImageLimits.jpeg_scans``
scans in a JPEG (each one another pass over the image) and ``ImageLimits.chunks`` parts in
any file (Pillow reads those in Python), counted from the markers before any decoder runs,
exact at N and N+1. Memory by what is never made: no metadata is inflated, no conversion
goes through wider integers. Both are checked here as properties (counts, refusals before
Pillow opens the file, Python-visible allocations), never as timings:
``benchmarks/bench.py hostile`` measures the time and RSS of the worst images that pass.
"""

from __future__ import annotations

import io
import tracemalloc
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from detector.errors import InvalidImageError, PayloadTooLargeError
from detector.pipeline import decode
from detector.settings import ImageLimits
from tests.functional import hostile
from tests.functional.conftest import UPLOADS_BUCKET
from tests.functional.hostile import EOI, SOS, fuzz, png_chunk, png_of, segment
from tests.lambdas import fresh_module

LIMITS = ImageLimits()
BUCKET = UPLOADS_BUCKET
DHT, COM, APP3, APP15 = 0xC4, 0xFE, 0xE3, 0xEF


@pytest.fixture(scope="module")
def picture(dog_jpg: Path) -> Image.Image:
    return hostile.thumbnail(dog_jpg, (64, 48))


@pytest.fixture(scope="module")
def progressive(picture: Image.Image) -> list[bytes]:
    """Progressive JPEGs as encoders write them: colour 4:2:0 and 4:4:4, grey, CMYK."""
    return [
        hostile.encoded(picture, "JPEG", progressive=True),
        hostile.encoded(picture, "JPEG", progressive=True, subsampling=0),
        hostile.encoded(picture.convert("L"), "JPEG", progressive=True),
        hostile.encoded(picture.convert("CMYK"), "JPEG", progressive=True),
    ]


def with_scans(jpeg: bytes, total: int) -> bytes:
    return hostile.scan_repeated(jpeg, -1 % hostile.scans(jpeg), total - hostile.scans(jpeg))


# --- JPEG scans --------------------------------------------------------------------------------
def test_the_scan_cap_is_exact(progressive):
    cap = LIMITS.jpeg_scans
    for jpeg in progressive:
        # GIVEN the same JPEG with its last scan repeated to N-1, N and N+1 scans
        # WHEN / THEN up to N it decodes; over N it is refused as too costly (413)
        for total in (cap - 1, cap):
            assert decode.decode(with_scans(jpeg, total), limits=LIMITS).image.mode == "RGB"
        with pytest.raises(PayloadTooLargeError, match=f"more than {cap} scans"):
            decode.decode(with_scans(jpeg, cap + 1), limits=LIMITS)


@st.composite
def rescanned(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A progressive JPEG whose scans are repeated, with segments, fill bytes and copies of
    its Huffman tables slipped between its pieces (markers inside segments too), and maybe
    a second picture after its end: all things a scan counter could trip over."""
    pieces = [piece for _, piece in hostile.jpeg_pieces(draw(st.sampled_from(seeds)))]
    markers = [piece[1] for piece in pieces]
    for _ in range(draw(st.integers(1, 6))):
        scans = [i for i, marker in enumerate(markers) if marker == SOS]
        tables = [i for i, marker in enumerate(markers) if marker == DHT]
        at = draw(st.integers(1, len(pieces) - 1))  # after SOI, before EOI
        kind = draw(st.sampled_from(["repeat scan", "segment", "fill", "tables"]))
        if kind == "repeat scan":
            index = draw(st.sampled_from(scans))
            insert = [pieces[index]] * draw(st.integers(1, 12))
            at = index + 1
        elif kind == "segment":  # payloads full of marker bytes that are not markers there
            payload = draw(st.binary(max_size=40)) + b"\xff\xda\x00\x0c\xff\xd9\xff\xd8"
            insert = [segment(draw(st.sampled_from([COM, APP3, APP15])), payload)]
        elif kind == "fill":
            pieces[at] = b"\xff" * draw(st.integers(1, 30)) + pieces[at]
            continue
        else:  # a table redefined to what it already is, where it is in force
            before = [i for i in tables if i < at]
            if not before:
                continue
            insert = [pieces[before[-1]]]
        pieces[at:at] = insert
        markers[at:at] = [piece[1] for piece in insert]
    if draw(st.booleans()):  # a second picture behind EOI, as phones write (MPO)
        pieces.append(
            pieces[1] + b"".join(p for p, m in zip(pieces, markers, strict=True) if m == SOS)
        )
    return b"".join(pieces)


def test_scans_are_counted_exactly_whatever_surrounds_them(progressive):
    @fuzz(200)
    @given(jpeg=rescanned(progressive))
    def check(jpeg: bytes) -> None:
        # GIVEN a JPEG with n scans up to its end (counted by the tests' own splitter)
        count = sum(marker == SOS for marker, _ in hostile.jpeg_pieces(jpeg))
        # WHEN decoded with a cap of n THEN it decodes
        decoded = decode.decode(jpeg, limits=ImageLimits(jpeg_scans=count))
        assert decoded.image.mode == "RGB"
        # AND with a cap of n - 1 it is refused for its scans
        with pytest.raises(PayloadTooLargeError, match="scans"):
            decode.decode(jpeg, limits=ImageLimits(jpeg_scans=count - 1))

    check()


def test_a_scan_after_a_complete_baseline_scan_is_refused_by_the_decoder(picture):
    # GIVEN a baseline JPEG (one scan with every component) whose scan comes twice: the
    # walker counts no further than such a scan, because libjpeg decodes nothing after it
    jpeg = hostile.encoded(picture, "JPEG")
    assert hostile.scans(jpeg) == 1
    # WHEN / THEN the decoder refuses the second scan instead of decoding it again
    with pytest.raises(InvalidImageError):
        decode.decode(hostile.scan_repeated(jpeg, 0, 1), limits=LIMITS)


def test_a_scan_bomb_declaring_49_megapixels_is_refused_before_pillow_opens_it(monkeypatch):
    # GIVEN 10,000 scans of a few bytes each behind a frame header of 7000x7000: the
    # decoder would run through 49 million pixels 10,000 times
    flat = hostile.progressive_jpeg(64, 48, total_scans=10_000, repeating=-1)
    bomb = hostile.jpeg_declaring(flat, 7000, 7000)
    assert len(bomb) < 200_000

    def opened(*_: object, **__: object) -> None:
        raise AssertionError("Pillow was asked to open the bomb")

    monkeypatch.setattr(Image, "open", opened)
    # WHEN / THEN it is refused from its markers alone
    with pytest.raises(PayloadTooLargeError, match="scans"):
        decode.decode(bomb, limits=LIMITS)


# --- parts: JPEG segments, PNG and WebP chunks --------------------------------------------
def with_parts(picture: Image.Image, container: str, total: int) -> bytes:
    """The picture as a file of ``total`` parts, padded with comments or text chunks."""
    if container == "jpeg":
        jpeg = hostile.encoded(picture, "JPEG")
        # the segments a baseline JPEG is walked for: those up to its scan's, SOI aside
        walked = [marker for marker, _ in hostile.jpeg_pieces(jpeg)].index(SOS)
        return hostile.jpeg_inserted(jpeg, segment(COM, b"c") * (total - walked))
    if container == "png":
        png = hostile.encoded(picture, "PNG")
        chunks = png.count(b"IDAT") + png.count(b"iCCP") + 2  # and IHDR, IEND
        return hostile.png_inserted(png, png_chunk(b"tEXt", b"k\x00v") * (total - chunks))
    webp = hostile.webp_with(picture, b"", lossless=True)
    chunks = webp.count(b"VP8") + webp.count(b"ICCP")  # VP8X, VP8L, ICCP
    return hostile.webp_with(
        picture, hostile.webp_chunk(b"ABCD", b"") * (total - chunks), lossless=True
    )


@pytest.mark.parametrize("container", ["jpeg", "png", "webp"])
def test_the_cap_on_parts_is_exact_in_every_container(picture, container):
    cap = 64
    limits = ImageLimits(chunks=cap)
    # GIVEN the picture in files of N-1, N and N+1 parts
    # WHEN / THEN up to N it decodes
    for total in (cap - 1, cap):
        assert decode.decode(with_parts(picture, container, total), limits=limits).width == 64
    # AND over N it is refused
    with pytest.raises(PayloadTooLargeError, match=f"more than {cap}"):
        decode.decode(with_parts(picture, container, cap + 1), limits=limits)


# --- memory ---------------------------------------------------------------------------------
def python_peak(action: Any) -> int:
    """The peak of Python-visible allocations (numpy's and bytes among them; Pillow's own
    image memory is not) while ``action`` runs, in bytes."""
    tracemalloc.start()
    try:
        action()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def wide_images() -> dict[str, tuple[bytes, np.ndarray[Any, Any]]]:
    """Modes that need converting, 1000x1000, with the RGB each must give."""
    rng = np.random.default_rng(3)
    grey16 = rng.integers(0, 65536, (1000, 1000), dtype=np.uint16)
    rgba16 = rng.integers(0, 65536, (1000, 1000, 4), dtype=np.uint16)
    indices = rng.integers(0, 4, (1000, 1000), dtype=np.uint8)
    palette = bytes([0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255])
    grey8 = np.repeat(((grey16 >> 8).astype(np.uint8))[..., None], 3, axis=2)
    return {
        "16-bit grey": (png_of(grey16, colour_type=0), grey8),
        "16-bit grey, interlaced": (png_of(grey16, colour_type=0, interlaced=True), grey8),
        "16-bit RGBA, interlaced": (
            png_of(rgba16, colour_type=6, interlaced=True),
            (rgba16[..., :3] >> 8).astype(np.uint8),
        ),
        "palette with transparency, interlaced": (
            png_of(
                indices,
                colour_type=3,
                interlaced=True,
                palette=palette,
                extra=png_chunk(b"tRNS", b"\x00\x80"),
            ),
            np.frombuffer(palette, np.uint8).reshape(4, 3)[indices],
        ),
    }


@pytest.mark.parametrize("name", list(wide_images()))
def test_wide_and_interlaced_pngs_decode_right_without_wide_copies(name):
    data, expected = wide_images()[name]
    # WHEN decoded, watching the allocations Python sees
    out: list[decode.DecodedImage] = []
    peak = python_peak(lambda: out.append(decode.decode(data, limits=LIMITS)))
    # THEN the pixels are right, and nothing wider than two bytes a pixel was made on the
    # way (before: 16 bytes a pixel, int64 twice, for 16-bit grey)
    assert np.array_equal(np.asarray(out[0].image), expected)
    assert peak < 2.5 * 1000 * 1000, f"{peak / 1e6:.1f} MB for 1 megapixel"


def test_compressed_metadata_is_never_inflated(picture):
    # GIVEN a PNG carrying 120 MB of compressed zeros as ICC profiles and text
    megabyte = zlib.compress(bytes(1 << 20), 9)
    bombs = png_chunk(b"iCCP", b"p\x00\x00" + megabyte) * 50
    bombs += png_chunk(b"zTXt", b"k\x00\x00" + megabyte) * 70
    data = hostile.png_inserted(hostile.encoded(picture, "PNG"), bombs)
    assert len(data) < 200_000
    # WHEN decoded THEN less than a megabyte was allocated where Python sees it
    peak = python_peak(lambda: decode.decode(data, limits=LIMITS))
    assert peak < 1 << 20, f"{peak / 1e6:.1f} MB"


def test_only_the_first_frame_of_an_animation_is_decoded(picture):
    # GIVEN animations whose later frames are other pictures, or garbage
    first = np.asarray(picture)
    frames = [picture.rotate(180), picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    animated_png = hostile.encoded(picture, "PNG", save_all=True, append_images=frames)
    garbage_frames = animated_png.replace(b"fdAT", b"fdAT\xff\xff\xff\xff", 1)
    animated_webp = hostile.encoded(
        picture, "WEBP", save_all=True, append_images=frames, lossless=True
    )
    for data in (animated_png, garbage_frames, animated_webp):
        # WHEN decoded THEN the picture is the first frame's
        decoded = decode.decode(data, limits=LIMITS)
        assert np.array_equal(np.asarray(decoded.image), first)


# --- the real handlers -----------------------------------------------------------------------
@pytest.fixture
def api(handler_env: pytest.MonkeyPatch) -> ModuleType:
    return fresh_module("detector.handlers.api")


def over_the_limits(picture: Image.Image, progressive: list[bytes]) -> dict[str, tuple[str, bytes]]:
    many = png_chunk(b"tEXt", b"k\x00v") * LIMITS.chunks
    return {
        "scans": ("image/jpeg", with_scans(progressive[0], LIMITS.jpeg_scans + 1)),
        "chunks": ("image/png", hostile.png_inserted(hostile.encoded(picture, "PNG"), many)),
    }


def test_images_over_the_limits_are_413_through_the_api(api, lambda_context, picture, progressive):
    for name, (media_type, data) in over_the_limits(picture, progressive).items():
        status, document = hostile.detected(api, data, lambda_context, media_type)
        assert (status, document["error"]["code"]) == (413, "too_large"), name


def test_images_over_the_limits_uploaded_get_an_error_document_and_no_retry(
    uploads_handler, s3, lambda_context, picture, progressive
):
    for name, (_, data) in over_the_limits(picture, progressive).items():
        result = hostile.uploaded(
            uploads_handler, s3, BUCKET, f"uploads/{name}", data, lambda_context
        )
        assert result["error"]["code"] == "too_large", name
        assert "detections" not in result


def test_scan_bombs_under_the_cap_are_detected_in_through_the_api(api, lambda_context, progressive):
    # GIVEN every kind of progressive JPEG at exactly the scan cap
    for jpeg in progressive:
        data = with_scans(jpeg, LIMITS.jpeg_scans)
        # WHEN / THEN the API detects in it like in any other image
        status, document = hostile.detected(api, data, lambda_context, "image/jpeg")
        assert status == 200, document
        assert (document["width"], document["height"]) == (64, 48)


def test_eoi_inside_a_scan_s_neighbourhood_does_not_stop_the_count(progressive):
    # GIVEN a comment holding the bytes of an end-of-image marker right after the first scan,
    # then more scans than the cap: a counter that searched for FF D9 would stop early
    pieces = [piece for _, piece in hostile.jpeg_pieces(progressive[0])]
    first_scan = next(i for i, piece in enumerate(pieces) if piece[1] == SOS)
    pieces.insert(first_scan + 1, segment(COM, bytes([0xFF, EOI]) * 4))
    jpeg = with_scans(b"".join(pieces), LIMITS.jpeg_scans + 1)
    # WHEN / THEN it is refused for its scans
    with pytest.raises(PayloadTooLargeError, match="scans"):
        decode.decode(jpeg, limits=LIMITS)


def test_runs_of_fill_bytes_ending_in_junk_are_skipped_in_one_pass(picture):
    # GIVEN 1 MB of 0xFF runs, each ended by a zero (junk, not a marker), before the frame:
    # a search for "0xFF+ then a marker code" backtracks through every run from every
    # start, quadratic (200 KB took 72 s); a search for "0xFF then a marker code" does not
    jpeg = hostile.encoded(picture, "JPEG")
    junk = (b"\xff" * 20_000 + b"\x00") * 50
    # WHEN / THEN it decodes, to the same pixels as without the junk (if this test hangs,
    # the search went quadratic again)
    decoded = decode.decode(hostile.jpeg_inserted(jpeg, junk, before=2), limits=LIMITS)
    assert np.array_equal(np.asarray(decoded.image), np.asarray(Image.open(io.BytesIO(jpeg))))
