"""The file around the pixels: checked and stripped before a decoder reads it.

Pillow parses JPEG marker segments (up to the first scan) and PNG chunks in Python, and with
them the metadata they carry: per byte of junk, per segment or chunk, per EXIF entry.
Measured on 1 MB files: 100,000 ancillary PNG chunks took 0.85 s to open, 100,000 tiny EXIF
segments 1.3 s, 400 KB of JPEG fill bytes 1.1 s, and 1,000 compressed ICC profiles of 1 MB
each 7.3 s; an EXIF block of 64 KB whose entries all point at the same bytes made it copy
them once per entry. A short or broken EXIF block made it raise ``struct.error``.

So the structure is walked here first, at C speed where it is long (``re`` over junk and
entropy-coded data) and with a cap on the number of parts (``ImageLimits.chunks``), and
the decoder is given the image without its metadata: JPEG keeps the segments the pixels
need (tables, frame, scans; JFIF and Adobe headers, which set the colour transform); PNG
keeps its header, palette and image data. The one piece of metadata we use, the EXIF
orientation, is read by ``orientation`` from the first EXIF block, and nothing else of it.

A JPEG's scans are counted too: each one is a pass of the entropy decoder over (a part of)
the whole image, and an end-of-band run lets a scan of a dozen bytes cover millions of
blocks, so a few hundred KB of repeated scans decoded for minutes (libjpeg-turbo's
"LJT-01-003"). A normal progressive JPEG has about 10.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from detector.errors import InvalidImageError, PayloadTooLargeError
from detector.settings import ImageLimits

ORIENTATION_TAG = 0x0112
EXIF_PREFIX = b"Exif\x00\x00"  # what an APP1 segment holding EXIF starts with
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG chunks the pixels are made of; the rest (text, colour profiles, animation frames after
# the default image, EXIF) is metadata to a decoder that drops alpha and colour management.
PNG_PIXEL_CHUNKS = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND"})
# JPEG markers.
SOI, EOI, SOS, TEM, COM, APP0, APP1, APP14 = 0xD8, 0xD9, 0xDA, 0x01, 0xFE, 0xE0, 0xE1, 0xEE
APPN = range(0xE0, 0xF0)
RSTN = range(0xD0, 0xD8)
PROGRESSIVE_FRAMES = frozenset({0xC2, 0xC6, 0xCA, 0xCE})
# The headers libjpeg reads to choose the colour transform (YCbCr, RGB, CMYK or YCCK).
COLOUR_HEADERS = {APP0: b"JFIF\x00", APP14: b"Adobe"}
FRAMES = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # SOFn; not DHT, JPG, DAC
# Between segments: a marker is 0xFF and a code other than 0x00 (or 0xFF: a fill byte);
# anything before it is junk, which the decoder would skip and we drop. In entropy-coded
# data 0xFF 0x00 is a stuffed 0xFF and RSTn markers belong to the scan. Searched at about
# 20-40 ns per 0xFF byte at worst (20 MB of nothing but 0xFF: 0.4-0.8 s); with a group or
# a repeat (0xFF+) the search was 3 times slower, and quadratic in runs of 0xFF.
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xff]")
_SCAN_END = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


@dataclass(frozen=True)
class Checked:
    """``data`` as the decoder should read it, and the TIFF structure of its EXIF block."""

    data: bytes
    exif: bytes | None


def check(data: bytes, limits: ImageLimits) -> Checked:
    """Walk a JPEG, PNG or WebP file's structure; refuse it or strip its metadata.

    Other bytes are returned as they are (the decoder refuses them). Raises
    ``PayloadTooLargeError`` over ``limits.jpeg_scans`` or ``limits.chunks``, and
    ``InvalidImageError`` for a JPEG whose headers are cut off or hold no scan.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return _jpeg(data, limits)
    if data.startswith(PNG_SIGNATURE):
        return _png(data, limits)
    if data.startswith(b"RIFF") and data[8:12] == b"WEBP":
        return _webp(data, limits)
    return Checked(data, None)


def orientation(exif: bytes | None) -> int:
    """The orientation (1-8) in the first IFD of an EXIF block; 1 if absent or unreadable.

    Only that one tag is read, in one pass over at most 65,535 entries of 12 bytes: no
    other IFD is followed (so none can loop), nothing is copied, nothing raises.
    """
    view = memoryview(exif or b"")
    while bytes(view[:6]) == EXIF_PREFIX:  # the JPEG segment's prefix, left in by some writers
        view = view[6:]
    order = {b"II": "<", b"MM": ">"}.get(bytes(view[:2]))
    if order is None or len(view) < 8:
        return 1
    magic, first = struct.unpack_from(order + "HI", view, 2)
    if magic != 42 or first + 2 > len(view):
        return 1
    (count,) = struct.unpack_from(order + "H", view, first)
    start = first + 2
    count = min(count, (len(view) - start) // 12)
    entries = view[start : start + 12 * count]
    for tag, kind, number, value in struct.iter_unpack(order + "HHI4s", entries):
        if tag != ORIENTATION_TAG:
            continue
        if number != 1 or kind not in (3, 4):  # one SHORT (as the standard says) or LONG
            return 1
        (found,) = struct.unpack_from(order + ("H" if kind == 3 else "I"), value)
        return found if 1 <= found <= 8 else 1
    return 1


def _jpeg(data: bytes, limits: ImageLimits) -> Checked:
    """Keep SOI, the tables and frame header, the first JFIF and Adobe headers and all from
    the first scan on; take the first EXIF block; count the scans if there can be several."""
    view = memoryview(data)
    kept = [view[:2]]
    exif: bytes | None = None
    colour_headers: set[int] = set()
    components = 0
    progressive = False
    segments = 0
    pos = 2
    while True:
        found = _NEXT_MARKER.search(data, pos)
        if found is None or data[found.start() + 1] == EOI:
            raise InvalidImageError("the JPEG has no image data")
        start, pos = found.span()
        marker = data[start + 1]
        if marker in RSTN or marker in (SOI, TEM):  # stand-alone markers: no length
            continue
        end = _segment_end(data, pos)
        if end is None:
            raise InvalidImageError("the JPEG is cut off in its headers")
        segments = _count(segments, limits.chunks, "marker segments")
        payload, pos = view[pos + 2 : end], end
        if marker in FRAMES and len(payload) >= 6:
            progressive, components = marker in PROGRESSIVE_FRAMES, payload[5]
        if marker == SOS:
            if not components:
                raise InvalidImageError("the JPEG has a scan before its frame header")
            kept.append(view[start:])
            # After one sequential scan of every component libjpeg decodes no other: it
            # refuses a second one. Anything else may have more scans: count them.
            if progressive or (len(payload) and payload[0] < components):
                _count_scans(data, end, segments, limits)
            break
        if marker == COM or marker in APPN:
            if marker == APP1 and exif is None and bytes(payload[:6]) == EXIF_PREFIX:
                exif = bytes(payload[6:])
            elif COLOUR_HEADERS.get(marker) == bytes(payload[:5]) and marker not in colour_headers:
                colour_headers.add(marker)
                kept.append(view[start:end])
            continue
        kept.append(view[start:end])
    return Checked(_joined(data, kept), exif)


def _count_scans(data: bytes, pos: int, segments: int, limits: ImageLimits) -> None:
    """Follow a multi-scan JPEG from the end of its first scan header to its EOI."""
    scans = 1
    while (found := _SCAN_END.search(data, pos)) is not None:
        marker, pos = data[found.start() + 1], found.end()
        if marker == EOI:
            return
        if marker in (SOI, TEM):
            continue
        end = _segment_end(data, pos)
        if end is None:
            return  # cut off: the decoder stops there too
        segments = _count(segments, limits.chunks, "marker segments")
        if marker == SOS:
            scans += 1
            if scans > limits.jpeg_scans:
                raise PayloadTooLargeError(f"the JPEG has more than {limits.jpeg_scans} scans")
        pos = end


def _segment_end(data: bytes, pos: int) -> int | None:
    """Where the segment whose length field is at ``pos`` ends, or None if cut off."""
    if pos + 2 > len(data):
        return None
    (length,) = struct.unpack_from(">H", data, pos)
    end = pos + length
    return end if length >= 2 and end <= len(data) else None


def _png(data: bytes, limits: ImageLimits) -> Checked:
    """Keep the signature and the pixel chunks, up to IEND; take the first eXIf chunk."""
    view = memoryview(data)
    kept = [view[:8]]
    exif: bytes | None = None
    chunks = 0
    pos = len(PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        chunks = _count(chunks, limits.chunks, "chunks")
        end = pos + 12 + length  # length, type, data, CRC
        if kind in PNG_PIXEL_CHUNKS:
            kept.append(view[pos:end])
        elif kind == b"eXIf" and exif is None:
            exif = bytes(view[pos + 8 : min(end - 4, len(data))])
        if kind == b"IEND":
            break
        pos = end
    return Checked(_joined(data, kept), exif)


def _webp(data: bytes, limits: ImageLimits) -> Checked:
    """libwebp parses the file in C: only count its chunks and take the first EXIF one."""
    exif: bytes | None = None
    chunks = 0
    pos = 12  # "RIFF", size, "WEBP"
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        chunks = _count(chunks, limits.chunks, "chunks")
        if kind == b"EXIF" and exif is None:
            exif = data[pos + 8 : pos + 8 + length]
        pos += 8 + length + (length & 1)  # chunks are padded to an even length
    return Checked(data, exif)


def _joined(data: bytes, kept: list[memoryview]) -> bytes:
    """The kept pieces as one file; ``data`` itself when they are all of it."""
    return data if sum(map(len, kept)) == len(data) else b"".join(kept)


def _count(count: int, limit: int, what: str) -> int:
    if count >= limit:
        raise PayloadTooLargeError(f"the image has more than {limit:,} {what}")
    return count + 1
