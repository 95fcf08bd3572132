"""Parsing ``POST /detect``: input forms, options, limits, media types."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest

from detector.aws import S3Location
from detector.errors import (
    BadRequestError,
    ForbiddenError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from detector.service.request import class_ids, parse_detect_request, wants_jpeg
from detector.settings import Settings

SETTINGS = Settings(input_buckets=frozenset({"inputs"}), max_image_bytes=1000)
NAMES = ("person", "bicycle", "car", "dog")
IMAGE = b"\xff\xd8\xff\xe0fake-jpeg"


def parse(
    body: bytes | None,
    content_type: str | None,
    *,
    query: dict[str, str] | None = None,
    accept: str | None = None,
    is_base64: bool = True,
) -> Any:
    text = None if body is None else base64.b64encode(body).decode() if is_base64 else body.decode()
    return parse_detect_request(
        body=text,
        is_base64=is_base64,
        content_type=content_type,
        query=query or {},
        accept=accept,
        settings=SETTINGS,
    )


def as_json(document: Any) -> bytes:
    return json.dumps(document).encode()


def test_a_raw_image_body_is_decoded_from_base64_with_options_from_the_query() -> None:
    request = parse(IMAGE, "image/jpeg", query={"conf": "0.5", "classes": "dog,1", "agnostic": "1"})

    assert request.image == IMAGE
    assert request.source is None
    assert request.conf == 0.5
    assert request.classes == ("dog", 1)
    assert request.agnostic is True


def test_a_content_type_with_parameters_and_capitals_is_understood() -> None:
    assert parse(IMAGE, "Image/PNG; charset=binary").image == IMAGE


def test_json_with_a_base64_image_and_options_in_the_body() -> None:
    document = {
        "image": base64.b64encode(IMAGE).decode(),
        "iou": 0.3,
        "max_det": 5,
        "classes": ["dog", 0],
        "annotate": True,
    }
    request = parse(as_json(document), "application/json", is_base64=False)

    assert request.image == IMAGE
    assert (request.iou, request.max_det, request.classes, request.annotate) == (
        0.3,
        5,
        ("dog", 0),
        True,
    )


def test_json_options_win_over_the_same_query_option() -> None:
    document = {"image": base64.b64encode(IMAGE).decode(), "conf": 0.9}
    request = parse(as_json(document), "application/json", query={"conf": "0.1"}, is_base64=False)

    assert request.conf == 0.9


def test_a_data_url_is_accepted_as_base64() -> None:
    document = {"image": "data:image/jpeg;base64," + base64.b64encode(IMAGE).decode()}
    assert parse(as_json(document), "application/json", is_base64=False).image == IMAGE


def test_json_with_an_s3_reference_to_an_allowed_bucket() -> None:
    document = {"s3": {"bucket": "inputs", "key": "a b/c.jpg", "version_id": "v1"}}
    request = parse(as_json(document), "application/json")

    assert request.image is None
    assert request.source == S3Location("inputs", "a b/c.jpg", "v1")


def test_an_s3_reference_to_another_bucket_is_forbidden() -> None:
    with pytest.raises(ForbiddenError, match="not allowed"):
        parse(as_json({"s3": {"bucket": "elsewhere", "key": "k"}}), "application/json")


@pytest.mark.parametrize(
    "document",
    [
        {},
        {"image": "aGk=", "s3": {"bucket": "inputs", "key": "k"}},
        {"image": ""},
        {"image": 12},
        {"image": "not base64!"},
        {"s3": "inputs/k"},
        {"s3": {"bucket": "inputs"}},
        {"s3": {"bucket": "inputs", "key": "k", "region": "x"}},
        {"s3": {"bucket": "inputs", "key": "k", "version_id": 3}},
    ],
)
def test_malformed_json_inputs_are_bad_requests(document: dict[str, Any]) -> None:
    with pytest.raises(BadRequestError):
        parse(as_json(document), "application/json")


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"\xff\xfe", b'"text"'])
def test_a_body_that_is_not_a_json_object_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequestError):
        parse(body, "application/json")


def test_an_empty_image_body_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError, match="empty"):
        parse(b"", "image/jpeg")


def test_a_body_that_is_not_valid_base64_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError, match="base64"):
        parse_detect_request(
            body="%%%",
            is_base64=True,
            content_type="image/jpeg",
            query={},
            accept=None,
            settings=SETTINGS,
        )


def test_every_body_length_decodes_as_the_standard_library_encoded_it() -> None:
    # GIVEN bodies of every length modulo 3 and across SIMD block sizes (pybase64 decodes
    # 32 or 64 characters at a time, then the tail), raw and inside JSON
    payload = bytes(range(256)) * 4
    for length in range(1, 200):
        body = payload[length : 2 * length]
        in_json = as_json({"image": base64.b64encode(body).decode()})
        # THEN what comes out is what the standard library encoded, byte for byte
        assert parse(body, "image/jpeg").image == body
        assert parse(in_json, "application/json").image == body


@pytest.mark.parametrize(
    "text",
    [
        "QUJD\n",  # a line break: MIME base64, not what API Gateway sends
        " QUJD",
        "QU JD",
        "QQ=",  # short padding
        "QQ",  # no padding
        "QQ==QQ==",  # padding in the middle
        "-_-_",  # the URL-safe alphabet
        "QUJ\u00e9",  # not ASCII
        "QUJD\x00",
        "QUJD====",  # excess padding: the standard library lets it pass, we do not
    ],
)
def test_base64_that_is_not_strictly_valid_is_a_bad_request(text: str) -> None:
    as_raw_body = {"body": text, "content_type": "image/jpeg"}
    as_json_image = {
        "body": base64.b64encode(as_json({"image": text})).decode(),
        "content_type": "application/json",
    }
    for request in (as_raw_body, as_json_image):
        with pytest.raises(BadRequestError, match="base64"):
            parse_detect_request(
                **request, is_base64=True, query={}, accept=None, settings=SETTINGS
            )


@pytest.mark.parametrize(
    "content_type", [None, "", "text/plain", "image/gif", "multipart/form-data"]
)
def test_other_media_types_are_unsupported(content_type: str | None) -> None:
    with pytest.raises(UnsupportedMediaTypeError):
        parse(IMAGE, content_type)


def test_a_raw_body_over_the_limit_is_too_large_before_decoding() -> None:
    with pytest.raises(PayloadTooLargeError):
        parse(b"x" * 2000, "image/jpeg")
    # The size is judged from the base64 text itself: text that would not even decode
    # (a decode first would have made it a 400) is refused as too large.
    undecodable = "!" * 4000
    with pytest.raises(PayloadTooLargeError):
        parse_detect_request(
            body=undecodable,
            is_base64=True,
            content_type="image/jpeg",
            query={},
            accept=None,
            settings=SETTINGS,
        )


def test_a_json_image_over_the_limit_is_too_large() -> None:
    document = {"image": base64.b64encode(b"x" * 2000).decode()}
    with pytest.raises(PayloadTooLargeError):
        parse(as_json(document), "application/json", is_base64=False)


@pytest.mark.parametrize("size", [998, 999, 1000, 1001])
def test_the_image_size_limit_is_exact_whatever_the_base64_padding(size: int) -> None:
    # GIVEN images of the limit (1000 bytes: base64 padded with "=="), 1 and 2 bytes under
    # (one "=", none) and 1 byte over, in every form that carries base64
    image = IMAGE + bytes(size - len(IMAGE))
    encoded = base64.b64encode(image).decode()
    forms: dict[str, Callable[[], Any]] = {
        "raw body": lambda: parse(image, "image/jpeg"),
        "JSON": lambda: parse(as_json({"image": encoded}), "application/json"),
        "data URL": lambda: parse(
            as_json({"image": "data:image/jpeg;base64," + encoded}), "application/json"
        ),
    }
    for form, parse_it in forms.items():
        # THEN the limit itself is allowed, one byte more is not
        if size <= SETTINGS.max_image_bytes:
            assert parse_it().image == image, form
        else:
            with pytest.raises(PayloadTooLargeError):
                parse_it()


@pytest.mark.parametrize(
    "query",
    [
        {"conf": "abc"},
        {"conf": "true"},
        {"max_det": "1.5"},
        {"max_det": "ten"},
        {"agnostic": "perhaps"},
        {"multi_label": "2"},
        {"classes": ","},
        {"unknown": "1"},
    ],
)
def test_options_that_do_not_parse_are_bad_requests(query: dict[str, str]) -> None:
    with pytest.raises(BadRequestError):
        parse(IMAGE, "image/jpeg", query=query)


@pytest.mark.parametrize(
    "document",
    [
        {"conf": True},
        {"max_det": 2.5},
        {"classes": [True]},
        {"classes": [1.5]},
        {"classes": {}},
        {"classes": []},
        {"classes": [["dog"]]},
        {"classes": ["dog", None]},
        {"classes": [0] * 4097},
        {"annotate": "sometimes"},
        {"annotate": 1},
        {"conf": [0.5]},
        {"conf": {"value": 0.5}},
        {"max_det": 5.0},
        {"max_det": "5.0"},
    ],
)
def test_json_options_of_the_wrong_type_are_bad_requests(document: dict[str, Any]) -> None:
    document["image"] = base64.b64encode(IMAGE).decode()
    with pytest.raises(BadRequestError):
        parse(as_json(document), "application/json")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0.5", 0.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("+0.5", 0.5),
        ("5e-1", 0.5),
        ("5E-1", 0.5),
        (" 0.5\t", 0.5),
        ("1", 1.0),
        ("-0", 0.0),
    ],
)
def test_ascii_decimal_numbers_are_numbers(text: str, value: float) -> None:
    assert parse(IMAGE, "image/jpeg", query={"conf": text}).conf == value


@pytest.mark.parametrize(
    "text",
    [
        "\u0660.\u0665",  # Arabic-Indic digits: float() reads 0.5
        "\uff10.\uff15",  # fullwidth digits
        "\u00b2",  # superscript two: str.isdigit() is True, int() refuses it
        "\u2460",  # circled one
        "--5",
        "+-5",
        "nan",
        "inf",
        "0x10",
        "1_0",
        "0.5\u3000",  # an ideographic space: str.strip() would take it
        "1" * 33,
        "1" * 5000,  # int() refuses over 4,300 digits
    ],
)
def test_numbers_outside_the_ascii_grammar_are_bad_requests(text: str) -> None:
    for name in ("conf", "iou", "max_det"):
        with pytest.raises(BadRequestError, match=f"option {name} must be"):
            parse(IMAGE, "image/jpeg", query={name: text})


def test_numbers_of_32_characters_are_numbers_and_of_33_are_not() -> None:
    assert parse(IMAGE, "image/jpeg", query={"conf": "0." + "5" * 30}).conf == pytest.approx(5 / 9)
    assert parse(IMAGE, "image/jpeg", query={"max_det": "0" * 31 + "7"}).max_det == 7
    with pytest.raises(BadRequestError):
        parse(IMAGE, "image/jpeg", query={"conf": "0." + "5" * 31})
    with pytest.raises(BadRequestError):
        parse(IMAGE, "image/jpeg", query={"max_det": "0" * 32 + "7"})


def test_only_ascii_digits_in_a_class_list_are_ids() -> None:
    request = parse(IMAGE, "image/jpeg", query={"classes": "3, \u00b2,\u0663,dog"})

    assert request.classes == (3, "\u00b2", "\u0663", "dog")
    with pytest.raises(BadRequestError, match="no class named"):
        request.options(NAMES, SETTINGS)


@pytest.mark.parametrize(
    "body",
    [
        b'{"image": "aGk=", "conf": NaN}',
        b'{"image": "aGk=", "conf": Infinity}',
        b'{"image": "aGk=", "conf": -Infinity}',
        b'{"image": "aGk=", "conf": 0.1, "conf": 0.9}',
        b'{"image": "aGk=", "image": "aGk="}',
        b'{"s3": {"bucket": "inputs", "key": "a", "key": "b"}}',
        b'{"image": "aGk=", "max_det": ' + b"9" * 5000 + b"}",
        b'{"image": "aGk=", "conf": 0.' + b"5" * 40 + b"}",
        b'{"image": "aGk=", "classes": [' + b"1" * 33 + b"]}",
        b'{"image": "aGk=", "conf": ' + b"[" * 30_000 + b"]" * 30_000 + b"}",
        b'{"image": "aGk=", "conf": ' + b'{"a":' * 10_000 + b"1" + b"}" * 10_000 + b"}",
        b"\xef\xbb\xbf" + b'{"image": "aGk="}',  # a byte order mark
        '{"image": "aGk="}'.encode("utf-16"),
        '{"image": "aGk="}'.encode("utf-32-le"),
        b'{"image": "aGk=", "x": "\xff"}',
    ],
)
def test_json_that_is_not_strict_utf8_json_is_a_bad_request(body: bytes) -> None:
    with pytest.raises(BadRequestError):
        parse(body, "application/json")


def test_a_key_twice_among_a_hundred_thousand_is_found_in_one_pass() -> None:
    # GIVEN 100,000 keys and the first one again at the end (a search through the keys
    # before each one would take 5 billion comparisons: the suite would hang)
    members = ", ".join(f'"k{index}": 1' for index in range(100_000))
    body = f'{{"image": "aGk=", {members}, "k0": 2}}'.encode()
    settings = Settings(max_image_bytes=10**6)
    # THEN it is named
    with pytest.raises(BadRequestError, match="the key 'k0' twice"):
        parse_detect_request(
            body=body.decode(),
            is_base64=False,
            content_type="application/json",
            query={},
            accept=None,
            settings=settings,
        )


def test_a_text_body_with_lone_surrogates_is_a_bad_request() -> None:
    with pytest.raises(BadRequestError, match="UTF-8"):
        parse_detect_request(
            body='{"image": "aGk=", "classes": "\ud800"}',
            is_base64=False,
            content_type="application/json",
            query={},
            accept=None,
            settings=SETTINGS,
        )


@pytest.mark.parametrize(
    "reference",
    [
        {"bucket": "inputs", "key": "k" * 1025},
        {"bucket": "inputs", "key": "\u00e9" * 513},  # 1026 bytes of UTF-8
        {"bucket": "inputs", "key": "\ud800"},
        {"bucket": "inputs", "key": "k", "version_id": "v" * 1025},
    ],
)
def test_s3_keys_s3_could_not_hold_are_bad_requests(reference: dict[str, str]) -> None:
    body = json.dumps({"s3": reference}).encode()
    with pytest.raises(BadRequestError, match="at most 1024 bytes"):
        parse(body, "application/json")


def test_s3_keys_of_1024_bytes_are_allowed() -> None:
    for key in ("k" * 1024, "\u00e9" * 512):
        body = json.dumps({"s3": {"bucket": "inputs", "key": key}}).encode()
        assert parse(body, "application/json").source == S3Location("inputs", key)


def test_options_fall_back_to_the_settings_and_map_class_names_to_ids() -> None:
    request = parse(IMAGE, "image/jpeg", query={"classes": "Dog,0", "max_det": "7"})
    options = request.options(NAMES, Settings(conf=0.4, iou=0.6))

    assert (options.conf, options.iou, options.max_det) == (0.4, 0.6, 7)
    assert options.classes == frozenset({3, 0})
    assert options.multi_label is False


@pytest.mark.parametrize(
    ("query", "document", "expected"),
    [
        ({"multi_label": "true"}, {}, True),
        ({"multi_label": "off"}, {}, False),
        ({}, {"multi_label": True}, True),
        ({"multi_label": "1"}, {"multi_label": False}, False),
    ],
)
def test_multi_label_is_a_flag_from_the_query_or_the_json_body(
    query: dict[str, str], document: dict[str, Any], expected: bool
) -> None:
    body = as_json({"image": base64.b64encode(IMAGE).decode(), **document})
    request = parse(body, "application/json", query=query, is_base64=False)

    assert request.options(NAMES, Settings()).multi_label is expected


@pytest.mark.parametrize("query", [{"conf": "1.5"}, {"iou": "-1"}, {"max_det": "0"}])
def test_out_of_range_options_are_bad_requests_once_built(query: dict[str, str]) -> None:
    request = parse(IMAGE, "image/jpeg", query=query)
    with pytest.raises(BadRequestError):
        request.options(NAMES, Settings())


def test_unknown_class_names_and_ids_are_bad_requests() -> None:
    with pytest.raises(BadRequestError, match="unicorn"):
        class_ids(["unicorn"], NAMES)
    with pytest.raises(BadRequestError, match="out of range"):
        class_ids([4], NAMES)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("image/jpeg", True),
        ("image/jpeg;q=0.9", True),
        ("application/json", False),
        ("image/jpeg, application/json", False),
        (None, False),
        ("*/*", False),
    ],
)
def test_wants_jpeg_only_when_jpeg_is_asked_for_and_json_is_not(
    accept: str | None, expected: bool
) -> None:
    assert wants_jpeg(accept) is expected
    assert parse(IMAGE, "image/jpeg", accept=accept).wants_jpeg is expected
