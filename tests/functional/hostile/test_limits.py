"""Class 8 of issue 12: every limit is exact, tested at N-1, N and N+1.

An image of exactly ``MAX_IMAGE_BYTES`` was refused: the base64 size estimate ignored the
padding. Here each limit a request can meet is tried one under, at and one over it, in
every form that carries it, through the real API handler in all three event shapes: image
bytes (raw body, JSON, data URL, JSON as a binary body, S3 reference) for sizes of each
remainder modulo 3, the JSON body, decoded pixels, the token, the class list, a number's
characters, each option's range, S3 key bytes, and the answer Lambda can return.
"""

from __future__ import annotations

import base64
import json
import math
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import jwt
import pytest
from PIL import Image

from detector.auth import MAX_TOKEN_BYTES
from detector.errors import PayloadTooLargeError
from detector.local import events
from detector.proxy import Response
from detector.service.request import base64_size, max_json_bytes
from detector.settings import (
    MAX_CLASS_ITEMS,
    MAX_DET_LIMIT,
    MAX_NUMBER_CHARS,
    S3_MAX_KEY_BYTES,
    Settings,
)
from tests import tokens
from tests.functional import hostile
from tests.functional.hostile import corpus
from tests.functional.hostile.corpus import answer, refused
from tests.lambdas import fresh_module

KINDS = events.API_KINDS
BUCKET = corpus.INPUT_BUCKET


def around(limit: int) -> list[int]:
    return [limit - 1, limit, limit + 1]


def png_of_size(picture: bytes, size: int) -> bytes:
    """``picture`` (a PNG) grown to exactly ``size`` bytes by a private ancillary chunk.

    Decoders skip such a chunk (lowercase first letter: not critical), so the image is the
    same whatever its size.
    """
    end = picture.rindex(b"IEND") - 4  # IEND's length field
    body = b"x" * (size - len(picture) - 12)  # a chunk is 12 bytes around its body
    kind = b"ptEx"
    chunk = struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    grown = picture[:end] + chunk + picture[end:]
    assert len(grown) == size
    return grown


@pytest.fixture(scope="module")
def picture(dog_jpg: Path) -> bytes:
    return hostile.encoded(hostile.thumbnail(dog_jpg), "PNG")  # 48x36, ~6.6 kB


@pytest.fixture
def uploads_bucket() -> str:
    """The conftest's ``s3`` creates this bucket and serves it (INPUT_BUCKETS)."""
    return BUCKET


@pytest.fixture
def api(s3: Any) -> ModuleType:
    return fresh_module("detector.handlers.api")


def image_events(
    kind: events.ApiKind, image: bytes, token: str, s3: Any
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``image`` in every form a /detect request can carry it."""
    encoded = base64.b64encode(image).decode()
    yield "raw body", corpus.image_event(kind, image, token, content_type="image/png")
    in_json = corpus.json_event(kind, json.dumps({"image": encoded}), token)
    yield "JSON", in_json
    yield "JSON as a binary body", corpus.as_binary(in_json)
    data_url = json.dumps({"image": "data:image/png;base64," + encoded})
    yield "data URL", corpus.json_event(kind, data_url, token)
    key = f"uploads/{len(image)}.png"
    s3.put_object(Bucket=BUCKET, Key=key, Body=image)
    reference = json.dumps({"s3": {"bucket": BUCKET, "key": key}})
    yield "S3 reference", corpus.json_event(kind, reference, token)


# 9000, 9001, 9002: base64 with no padding, "==" and "=" at the limit
@pytest.mark.parametrize("limit", [9000, 9001, 9002])
def test_images_of_max_image_bytes_are_taken_and_one_byte_more_is_not(
    handler_env, s3, lambda_context, capsys, picture, token, limit
):
    # GIVEN MAX_IMAGE_BYTES, and images of one byte under, at and one byte over it
    handler_env.setenv("MAX_IMAGE_BYTES", str(limit))
    api = fresh_module("detector.handlers.api")
    for size in around(limit):
        image = png_of_size(picture, size)
        for kind in KINDS:
            for form, event in image_events(kind, image, token, s3):
                # WHEN each is sent, in each form
                result = answer(api, event, lambda_context, capsys)
                # THEN detections up to the limit, a 413 past it
                if size <= limit:
                    assert result.status == 200, (form, size, result.body[:200])
                    assert (result.document["width"], result.document["height"]) == (48, 36)
                else:
                    refused(result, 413, "too_large")


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_a_json_body_of_the_json_limit_is_taken_and_one_byte_more_is_not(
    handler_env, s3, lambda_context, capsys, picture, token, binary
):
    # GIVEN the largest image, in a JSON body padded (whitespace is JSON) to the JSON limit
    limit = 9001
    handler_env.setenv("MAX_IMAGE_BYTES", str(limit))
    api = fresh_module("detector.handlers.api")
    document = json.dumps({"image": base64.b64encode(png_of_size(picture, limit)).decode()})
    json_limit = max_json_bytes(Settings(max_image_bytes=limit))
    assert json_limit == base64_size(limit) + 64 * 1024 == 12_004 + 65_536
    for size in around(json_limit):
        for kind in KINDS:
            event = corpus.json_event(kind, document + " " * (size - len(document)), token)
            event = corpus.as_binary(event) if binary else event
            # WHEN / THEN taken up to the limit, a 413 past it
            result = answer(api, event, lambda_context, capsys)
            if size <= json_limit:
                assert result.status == 200, result.body[:200]
            else:
                refused(result, 413, "too_large")


@pytest.mark.parametrize("shape", ["row", "column", "jpeg"])
def test_images_of_max_image_pixels_are_taken_and_one_pixel_more_is_not(
    handler_env, lambda_context, capsys, token, shape
):
    # GIVEN MAX_IMAGE_PIXELS and images of one pixel under, at and one pixel over it
    limit = 2000
    handler_env.setenv("MAX_IMAGE_PIXELS", str(limit))
    api = fresh_module("detector.handlers.api")
    for pixels in around(limit):
        size = (1, pixels) if shape == "column" else (pixels, 1)
        picture = Image.new("RGB", size, (120, 80, 40))
        image = hostile.encoded(picture, "JPEG" if shape == "jpeg" else "PNG")
        for kind in KINDS:
            # WHEN each is sent, with the annotated image asked for too
            event = corpus.image_event(kind, image, token, {"annotate": ["true"]})
            result = answer(api, event, lambda_context, capsys)
            # THEN detections and a drawing up to the limit, a 413 past it
            if pixels <= limit:
                assert result.status == 200, result.body[:200]
                assert "annotated_image" in result.document
            else:
                refused(result, 413, "too_large")


def token_of_length(length: int) -> str:
    """A valid token of exactly ``length`` characters, grown by a claim and a header field.

    base64url never makes 4k+1 characters, so the header's padding moves the payload's.
    """
    for kid in range(4):
        for pad in range(max(0, length * 3 // 4 - 400), length):
            token = jwt.encode(
                tokens.claims(pad="p" * pad), tokens.SECRET, "HS256", headers={"kid": "k" * kid}
            )
            if len(token) == length:
                return token
            if len(token) > length:
                break
    raise AssertionError(f"no token of {length} characters")


def test_tokens_of_max_token_bytes_are_verified_and_one_byte_more_is_not(
    api, lambda_context, capsys
):
    for length in around(MAX_TOKEN_BYTES):
        token = token_of_length(length)
        for kind in KINDS:
            # GIVEN a valid token one character under, at and over the limit
            event = events.api_event(kind, "GET", "/model", token=token)
            # WHEN / THEN verified up to the limit, refused unread past it
            result = answer(api, event, lambda_context, capsys)
            if length <= MAX_TOKEN_BYTES:
                assert result.status == 200, result.body[:200]
            else:
                assert refused(result, 401, "invalid_token").error["message"] == (
                    "the token is too large"
                )


def send_option(
    api: ModuleType,
    context: Any,
    capsys: pytest.CaptureFixture[str],
    name: str,
    text: str,
    fragment: str,
    image: bytes,
    token: str,
) -> list[corpus.Answer]:
    """Option ``name`` as query text and as a JSON fragment, in every event shape."""
    forms: list[tuple[corpus.Form, str]] = [("query", text), ("json", fragment)]
    answers = []
    for kind in KINDS:
        for form, value in forms:
            event = corpus.option_event(kind, form, name, value, image, token)
            answers.append(answer(api, event, context, capsys))
    return answers


def expect(answers: list[corpus.Answer], taken: bool) -> None:
    for result in answers:
        if taken:
            assert result.status == 200, result.body[:200]
        else:
            refused(result)


def test_class_lists_of_max_class_items_are_taken_and_one_more_is_not(
    api, lambda_context, capsys, picture, token
):
    for count in around(MAX_CLASS_ITEMS):
        ids = [index % corpus.COCO_CLASSES for index in range(count)]
        text = ",".join(map(str, ids))
        answers = send_option(
            api, lambda_context, capsys, "classes", text, json.dumps(ids), picture, token
        )
        expect(answers, taken=count <= MAX_CLASS_ITEMS)


@pytest.mark.parametrize(
    ("name", "numeral"),
    [
        ("conf", lambda length: "0." + "5" * (length - 2)),
        ("iou", lambda length: "0." + "4" * (length - 3) + "5"),
        ("max_det", lambda length: "0" * (length - 2) + "10"),
        ("classes", lambda length: "0" * (length - 2) + "16"),
    ],
)
def test_numbers_of_max_number_chars_are_numbers_and_one_character_more_is_not(
    api, lambda_context, capsys, picture, token, name, numeral
):
    for length in around(MAX_NUMBER_CHARS):
        text = numeral(length)
        assert len(text) == length
        # the JSON number itself (no leading zeros in JSON: a string there), and the text
        fragment = json.dumps(text) if text.startswith("00") else text
        fragment = f"[{fragment}]" if name == "classes" else fragment
        answers = send_option(api, lambda_context, capsys, name, text, fragment, picture, token)
        expect(answers, taken=length <= MAX_NUMBER_CHARS)


@pytest.mark.parametrize(
    ("name", "taken", "refused_values"),
    [
        ("conf", [0.0, 1.0], [math.nextafter(0.0, -1.0), math.nextafter(1.0, 2.0)]),
        ("iou", [0.0, 1.0], [math.nextafter(0.0, -1.0), math.nextafter(1.0, 2.0)]),
        ("max_det", [1, MAX_DET_LIMIT], [0, MAX_DET_LIMIT + 1]),
        ("classes", [0, corpus.COCO_CLASSES - 1], [-1, corpus.COCO_CLASSES]),
    ],
)
def test_option_ranges_take_their_ends_and_nothing_past_them(
    api, lambda_context, capsys, picture, token, name, taken, refused_values
):
    for value, ok in [(v, True) for v in taken] + [(v, False) for v in refused_values]:
        # GIVEN each end of the range, and the closest value past it (nextafter for floats)
        text = repr(value)
        if name == "classes" and value < 0:  # "-1" in a class list is a name, not an id
            answers = [
                answer(
                    api,
                    corpus.option_event(kind, "json", name, f"[{text}]", picture, token),
                    lambda_context,
                    capsys,
                )
                for kind in KINDS
            ]
        else:
            fragment = f"[{text}]" if name == "classes" else text
            answers = send_option(api, lambda_context, capsys, name, text, fragment, picture, token)
        # THEN the ends are taken, the values past them are a 400
        expect(answers, taken=ok)


@pytest.mark.parametrize("character", ["k", "\u00e9"], ids=["1-byte", "2-byte"])
def test_s3_keys_of_1024_bytes_are_read_and_one_byte_more_is_refused(
    api, s3, lambda_context, capsys, picture, token, character
):
    width = len(character.encode())
    for size in around(S3_MAX_KEY_BYTES):
        # GIVEN an image under a key of 1023, 1024 and 1025 bytes (as S3 counts them)
        key = "uploads/" + character * ((size - 8) // width)
        key += "k" * (size - len(key.encode()))
        assert len(key.encode()) == size
        if size <= S3_MAX_KEY_BYTES:
            s3.put_object(Bucket=BUCKET, Key=key, Body=picture)
        reference = json.dumps({"s3": {"bucket": BUCKET, "key": key}})
        for kind in KINDS:
            # WHEN it is asked for
            result = answer(api, corpus.json_event(kind, reference, token), lambda_context, capsys)
            # THEN read up to S3's limit, a 400 past it (S3 could not hold such a key)
            if size <= S3_MAX_KEY_BYTES:
                assert result.status == 200, result.body[:200]
            else:
                refused(result)


def test_answers_up_to_what_lambda_can_return_are_returned_and_one_byte_more_is_a_413(api):
    limit = api.MAX_RESPONSE_BODY_BYTES
    # GIVEN text bodies one byte under, at and over the limit
    for size in around(limit):
        response = Response(200, "application/json", "x" * size)
        # THEN up to the limit they are returned as they are; past it, a 413
        if size <= limit:
            assert api.deliverable(response) is response
        else:
            with pytest.raises(PayloadTooLargeError, match="over the 6 MiB"):
                api.deliverable(response)
    # GIVEN binary bodies whose base64 is at the limit, and the smallest one past it
    assert limit % 4 == 0
    at_limit = limit // 4 * 3
    for size in (at_limit - 1, at_limit, at_limit + 1):
        response = Response(200, "image/jpeg", b"\xff" * size)
        if base64_size(size) <= limit:
            assert api.deliverable(response) is response
        else:
            with pytest.raises(PayloadTooLargeError):
                api.deliverable(response)
