"""Hostile image bytes for the fuzz tests: crafted headers, odd modes, animations, mutations.

Everything is made in memory from a seed photo or from scratch; nothing is kept on disk.
"""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from PIL import Image

from detector.local import events
from tests import tokens


def fuzz(examples: int) -> settings:
    """A fixed number of examples from a fixed seed (derandomised), no per-example deadline."""
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Prefixes that make a parser commit to a format before it meets the garbage behind them.
MAGICS = (
    b"",
    b"\xff\xd8\xff\xe0",
    b"\xff\xd8\xff\xdb",
    PNG_SIGNATURE,
    b"RIFF\x00\x01\x00\x00WEBPVP8 ",
    b"RIFF\x00\x01\x00\x00WEBPVP8L",
    b"RIFF\x00\x01\x00\x00WEBPVP8X",
    b"GIF89a",
    b"BM",
    b"II*\x00",
    b"<svg",
)


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **params)
    return out.getvalue()


def thumbnail(source: Path, size: tuple[int, int] = (48, 36)) -> Image.Image:
    with Image.open(source) as image:
        return image.convert("RGB").resize(size)


def small_images(source: Path) -> dict[str, bytes]:
    """One small real picture in every allowed format: the seeds of the mutations."""
    picture = thumbnail(source)
    return {
        "jpeg": encoded(picture, "JPEG", quality=80),
        "progressive-jpeg": encoded(picture, "JPEG", quality=80, progressive=True),
        "png": encoded(picture, "PNG"),
        "webp-lossy": encoded(picture, "WEBP", quality=60),
        "webp-lossless": encoded(picture, "WEBP", lossless=True),
    }


def odd_images(source: Path) -> dict[str, tuple[bytes, tuple[int, int]]]:
    """Allowed formats in unusual shapes, all of which must decode: name → (bytes, size)."""
    picture = thumbnail(source)
    size = picture.size
    frames = [picture, picture.rotate(90), picture.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    grey16 = Image.new("I;16", (32, 24))
    grey16.putdata([(x * 2111) % 65536 for x in range(32 * 24)])
    rgb16 = png(32, 24, bit_depth=16, colour_type=2, pixels=bytes(range(256)) * 18)
    return {
        "animated-png": (encoded(frames[0], "PNG", save_all=True, append_images=frames[1:]), size),
        "animated-webp": (
            encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:]),
            size,
        ),
        "png-grey-16bit": (encoded(grey16, "PNG"), (32, 24)),
        "png-rgb-16bit": (rgb16, (32, 24)),
        "png-grey-1bit": (encoded(picture.convert("1"), "PNG"), size),
        "png-palette-transparent": (encoded(picture.convert("P"), "PNG", transparency=0), size),
        "png-rgba": (encoded(picture.convert("RGBA"), "PNG"), size),
        "png-grey-alpha": (encoded(picture.convert("LA"), "PNG"), size),
        "jpeg-cmyk": (encoded(picture.convert("CMYK"), "JPEG"), size),
        "jpeg-grey": (encoded(picture.convert("L"), "JPEG"), size),
        "webp-rgba": (encoded(picture.convert("RGBA"), "WEBP"), size),
        "one-pixel-png": (encoded(Image.new("RGB", (1, 1)), "PNG"), (1, 1)),
        "one-row-png": (encoded(Image.new("RGB", (4000, 1)), "PNG"), (4000, 1)),
        "one-column-jpeg": (encoded(Image.new("RGB", (1, 4000)), "JPEG"), (1, 4000)),
    }


def refused_formats(source: Path) -> dict[str, bytes]:
    """Formats Pillow reads but we must not: they never reach a parser of ours."""
    picture = thumbnail(source)
    frames = [picture, picture.rotate(90)]
    return {
        "animated-gif": encoded(frames[0], "GIF", save_all=True, append_images=frames[1:]),
        "bmp": encoded(picture, "BMP"),
        "tiff": encoded(picture, "TIFF"),
        "ico": encoded(picture, "ICO"),
        "pdf": encoded(picture, "PDF"),
        "svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="9e9" height="9e9"/>',
        "empty": b"",
    }


def png_chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body)
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png(
    width: int,
    height: int,
    *,
    bit_depth: int = 8,
    colour_type: int = 2,
    pixels: bytes = b"",
) -> bytes:
    """A PNG with any header; ``pixels`` is the raw data, row by row (none: 64 zero bytes)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    stride = width * channels * bit_depth // 8
    rows = bytes(64)
    if pixels:  # add the filter byte in front of every row
        rows = b"".join(b"\x00" + pixels[i : i + stride] for i in range(0, len(pixels), stride))
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(rows))
        + png_chunk(b"IEND", b"")
    )


def jpeg_declaring(jpeg: bytes, width: int, height: int) -> bytes:
    """``jpeg`` with the size in its start-of-frame segment replaced (the data unchanged)."""
    for marker in (b"\xff\xc0", b"\xff\xc2"):
        at = jpeg.find(marker)
        if at >= 0:
            # SOFn: marker, length (2), precision (1), height (2), width (2)
            return jpeg[: at + 5] + struct.pack(">HH", height, width) + jpeg[at + 9 :]
    raise ValueError("no start-of-frame segment")


def webp_declaring(width: int, height: int) -> bytes:
    """An extended (VP8X) WebP whose canvas is ``width`` x ``height`` and holds no image."""
    vp8x = (
        b"\x00\x00\x00\x00" + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little")
    )
    body = b"WEBP" + b"VP8X" + struct.pack("<I", len(vp8x)) + vp8x
    return b"RIFF" + struct.pack("<I", len(body)) + body


def huge_headers(jpeg: bytes) -> dict[str, bytes]:
    """Files that claim enormous pictures and carry almost no data: bombs."""
    return {
        "png-100000x100000": png(100_000, 100_000),
        "png-2147483647-wide": png(2**31 - 1, 1),
        "png-16bit-rgba-30000x30000": png(30_000, 30_000, bit_depth=16, colour_type=6),
        "jpeg-65535x65535": jpeg_declaring(jpeg, 65_535, 65_535),
        "jpeg-65535x1000": jpeg_declaring(jpeg, 65_535, 1_000),
        "webp-16384x16384": webp_declaring(16_384, 16_384),
    }


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    """A seed file with a few bytes flipped, inserted, deleted, or cut off."""
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "repeat"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80]))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif kind == "truncate":
            del data[at:]
        elif kind == "repeat":
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return bytes(data)


def garbage() -> st.SearchStrategy[bytes]:
    """Random bytes behind a magic number of some format."""
    return st.builds(lambda magic, tail: magic + tail, st.sampled_from(MAGICS), st.binary())


# --- containers, taken apart and put back together ------------------------------------------
# Written apart from detector.pipeline.container, so the tests do not check the walker
# against itself.
SOI, EOI, SOS = 0xD8, 0xD9, 0xDA


def jpeg_pieces(jpeg: bytes) -> list[tuple[int, bytes]]:
    """``jpeg`` as (marker, bytes) pieces that join back into it: SOI, each segment (a scan
    with its entropy-coded data), EOI and whatever follows it."""
    pieces, pos = [(SOI, jpeg[:2])], 2
    while pos < len(jpeg):
        at = pos
        while jpeg[at + 1] == 0xFF:  # fill bytes: part of the piece they stand in front of
            at += 1
        marker = jpeg[at + 1]
        if marker == EOI:
            pieces.append((EOI, jpeg[pos:]))
            break
        end = at + 2 + struct.unpack(">H", jpeg[at + 2 : at + 4])[0]
        if marker == SOS:  # the scan runs to the next marker that is not RSTn or stuffing
            while not (jpeg[end] == 0xFF and jpeg[end + 1] not in (0x00, *range(0xD0, 0xD8))):
                end += 1
        pieces.append((marker, jpeg[pos:end]))
        pos = end
    return pieces


def scans(jpeg: bytes) -> int:
    return sum(marker == SOS for marker, _ in jpeg_pieces(jpeg))


def scan_repeated(jpeg: bytes, index: int, times: int) -> bytes:
    """``jpeg`` with its ``index``-th scan repeated ``times`` more times right after itself
    (where the Huffman tables it uses are still in force)."""
    out, seen = [], -1
    for marker, piece in jpeg_pieces(jpeg):
        out.append(piece)
        seen += marker == SOS
        if marker == SOS and seen == index:
            out.append(piece * times)
    return b"".join(out)


def segment(marker: int, payload: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def jpeg_inserted(jpeg: bytes, extra: bytes, *, before: int = -1) -> bytes:
    """``extra`` bytes put in front of piece ``before`` (default: right after SOI)."""
    pieces = [piece for _, piece in jpeg_pieces(jpeg)]
    at = 1 if before == -1 else before
    return b"".join(pieces[:at]) + extra + b"".join(pieces[at:])


def png_inserted(data: bytes, chunks: bytes, *, after_image_data: bool = False) -> bytes:
    """``chunks`` put right after IHDR, or just before IEND."""
    at = len(data) - 12 if after_image_data else len(PNG_SIGNATURE) + 25
    return data[:at] + chunks + data[at:]


def webp_chunk(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("<I", len(body)) + body + b"\x00" * (len(body) & 1)


def webp_with(picture: Image.Image, chunks: bytes, **params: object) -> bytes:
    """An extended (VP8X) WebP of ``picture`` with ``chunks`` appended, its sizes fixed."""
    riff = encoded(picture, "WEBP", exif=b"II*\x00\x08\x00\x00\x00\x00\x00\x00\x00", **params)
    at = riff.find(b"EXIF")  # drop Pillow's EXIF: only the chunks given are there
    size = struct.unpack("<I", riff[at + 4 : at + 8])[0]
    body = riff[12:at] + riff[at + 8 + size + (size & 1) :] + chunks
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


# --- EXIF: a TIFF structure written by hand, so that any field can be wrong ----------------
ORIENTATION = 0x0112
SHORT, LONG, ASCII = 3, 4, 2


def tiff(
    entries: list[tuple[int, int, int, bytes]],
    *,
    order: str = "<",
    declared: int | None = None,
    next_ifd: int = 0,
) -> bytes:
    """A TIFF header and, right behind it at offset 8, one IFD of (tag, type, count, 4-byte
    value) entries; ``declared`` overrides the entry count, ``next_ifd`` the offset of the
    next IFD (8: itself)."""
    head = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    count = len(entries) if declared is None else declared
    ifd = struct.pack(order + "H", count) + b"".join(
        struct.pack(order + "HHI", tag, kind, number) + value.ljust(4, b"\x00")[:4]
        for tag, kind, number, value in entries
    )
    return head + ifd + struct.pack(order + "I", next_ifd)


def orientation_entry(value: int, order: str = "<", kind: int = SHORT, count: int = 1):
    packed = struct.pack(order + ("H" if kind == SHORT else "I"), value)
    return (ORIENTATION, kind, count, packed)


# --- the costliest images under the limits (benchmarks/bench.py hostile measures them) -------
def flat_png(
    width: int, height: int, *, bit_depth: int = 8, colour_type: int = 2, interlaced: bool = False
) -> bytes:
    """A PNG of ``width`` x ``height`` black pixels, every row present: it decodes in full.

    Made row by row through one compressor, so a 50-megapixel 16-bit image costs the
    compressor's time but never the raw image's memory.
    """
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour_type]
    row = b"\x00" * (1 + (width * channels * bit_depth + 7) // 8)  # filter byte + samples
    # Adam7's seven passes hold the same samples in more, shorter rows: twice the filter
    # bytes of the plain layout is more than enough zeros for them.
    compressor = zlib.compressobj(9)
    rows = height * (2 if interlaced else 1)
    idat = b"".join(compressor.compress(row) for _ in range(rows)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, int(interlaced))
    palette = png_chunk(b"PLTE", bytes(range(256)) * 3) if colour_type == 3 else b""
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + palette
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


# The seven passes of an interlaced PNG: first column and row, column and row steps.
ADAM7 = (
    (0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4),
    (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2),
)  # fmt: skip


def png_of(
    samples: np.ndarray[Any, Any],
    *,
    colour_type: int,
    interlaced: bool = False,
    palette: bytes = b"",
    extra: bytes = b"",
) -> bytes:
    """A PNG of ``samples`` (rows x columns [x channels], uint8 or uint16), written here
    because Pillow writes neither interlaced nor 16-bit colour PNGs; ``extra`` chunks go
    before the image data."""
    height, width = samples.shape[:2]
    bit_depth = 16 if samples.dtype == np.uint16 else 8
    big_endian = samples.astype(">u2") if bit_depth == 16 else samples
    passes = ADAM7 if interlaced else ((0, 0, 1, 1),)
    raw = b"".join(
        b"\x00" + row.tobytes()  # filter type 0 on every row
        for x0, y0, dx, dy in passes
        for row in big_endian[y0::dy, x0::dx]
        if row.size
    )
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, int(interlaced))
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + (png_chunk(b"PLTE", palette) if palette else b"")
        + extra
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def progressive_jpeg(
    width: int, height: int, *, total_scans: int, mode: str = "RGB", repeating: int = 0
) -> bytes:
    """A flat progressive JPEG (4:4:4) whose scan number ``repeating`` is repeated until it
    has ``total_scans`` scans.

    The first scan, the DC of every component at once, is the costliest to repeat: 0.2 s
    each at 50 MP, 0.1-0.15 for an AC refinement; the last is the smallest (an AC
    refinement of the luma: 75 bytes at 50 MP, for an end-of-band run over every block).
    """
    greys: dict[str, int | tuple[int, ...]] = {"RGB": (120, 130, 140), "CMYK": (60, 50, 40, 30)}
    grey = greys.get(mode, 128)
    jpeg = encoded(Image.new(mode, (width, height), grey), "JPEG", progressive=True, subsampling=0)
    count = scans(jpeg)
    return scan_repeated(jpeg, repeating % count, total_scans - count)


# --- through the real handlers ---------------------------------------------------------------
def detected(
    api: ModuleType, data: bytes, context: object, content_type: str
) -> tuple[int, dict[str, Any]]:
    """POST ``data`` to /detect through the API handler: the status and the JSON answer,
    after checking that an error answer has the documented shape and no stack trace."""
    event = events.api_event(
        "http", "POST", "/detect", body=data, content_type=content_type, token=tokens.hs256()
    )
    response = api.lambda_handler(event, context)
    status, document = int(response["statusCode"]), json.loads(response["body"])
    if status >= 400:
        assert set(document["error"]) == {"code", "message"}, document
        assert "Traceback" not in document["error"]["message"]
    return status, document


def uploaded(
    handler: ModuleType, s3: Any, bucket: str, key: str, data: bytes, context: object
) -> dict[str, Any]:
    """Upload ``data`` under ``key`` and notify the S3 handler through SQS: the result
    document, after checking that no message was handed back for a retry."""
    put = s3.put_object(Bucket=bucket, Key=key, Body=data)
    notification = events.s3_notification(bucket, key, size=len(data), etag=put["ETag"].strip('"'))
    response = handler.lambda_handler(events.sqs_event([notification]), context)
    assert response == {"batchItemFailures": []}
    body = s3.get_object(Bucket=bucket, Key=f"detections/{key}.json")["Body"].read()
    document: dict[str, Any] = json.loads(body)
    return document
