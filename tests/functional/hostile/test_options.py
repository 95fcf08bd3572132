"""Class 1 of issue 12: option values the parser does not expect are a 400, never a 500.

Every option, in every form it can arrive in (query string, JSON text, JSON sent as a
binary body, beside an S3 reference), through the real API handler in all three event
shapes: text in other scripts' digits, number symbols, 6,000-digit numbers, NaN and
Infinity, JSON nested 100,000 deep, values of every wrong JSON type, keys given twice,
bodies that are not UTF-8, options repeated in the query string. Each answer is a 400 in
the error shape with a log free of stack traces (``corpus.answer``). Derandomised
hypothesis tests with the example counts written here, so a failure reproduces anywhere.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.service.request import OPTIONS
from tests.functional.hostile import corpus, fuzz
from tests.functional.hostile.corpus import KINDS, answer, refused
from tests.lambdas import fresh_module

NAMES = st.sampled_from(list(OPTIONS))
SCALAR_NAMES = st.sampled_from([name for name in OPTIONS if name != "classes"])


@pytest.fixture
def api(handler_env: pytest.MonkeyPatch) -> ModuleType:
    handler_env.setenv("INPUT_BUCKETS", corpus.INPUT_BUCKET)
    return fresh_module("detector.handlers.api")


def test_text_no_option_takes_is_a_400_for_every_option_in_every_form(
    api, lambda_context, capsys, image, token
):
    @fuzz(400)
    @given(
        kind=KINDS,
        form=st.sampled_from(corpus.FORMS),
        name=NAMES,
        text=corpus.UNTAKEN_TEXT,
    )
    def check(kind, form, name, text):
        # GIVEN digits of other scripts, number symbols, numbers of thousands of digits,
        # NaN, 0x10, 1_0, "--5": as query-string text or as a JSON string
        value = text if form == "query" else json.dumps(text)
        event = corpus.option_event(kind, form, name, value, image, token)
        # WHEN / THEN a 400 that names the option, or the unknown class
        error = refused(answer(api, event, lambda_context, capsys)).error
        assert f"option {name} " in error["message"] or "no class named" in error["message"]

    check()


def test_json_no_option_takes_is_a_400_for_every_option(api, lambda_context, capsys, image, token):
    @fuzz(300)
    @given(
        kind=KINDS,
        form=st.sampled_from(["json", "json-base64", "s3"]),
        name=NAMES,
        fragment=corpus.UNTAKEN_JSON,
    )
    def check(kind, form, name, fragment):
        # GIVEN numbers of up to 6,000 digits, NaN, 1e999, arrays or objects nested up to
        # 100,000 deep, as the option's JSON value
        event = corpus.option_event(kind, form, name, fragment, image, token)
        # WHEN / THEN a 400
        refused(answer(api, event, lambda_context, capsys))

    check()


def test_any_json_value_is_taken_or_refused_as_the_grammar_says(
    api, lambda_context, capsys, image, token
):
    values = corpus.JSON_VALUES.filter(lambda value: value is not None)

    @fuzz(300)
    @given(kind=KINDS, binary=st.booleans(), name=NAMES, value=values)
    def check(kind, binary, name, value):
        # GIVEN any JSON value but text and null (lists, objects, booleans, huge or tiny
        # numbers, NaN) as an option beside a good image
        form: corpus.Form = "json-base64" if binary else "json"
        event = corpus.option_event(kind, form, name, json.dumps(value), image, token)
        # WHEN
        result = answer(api, event, lambda_context, capsys)
        # THEN detections when the README's grammar takes it, a 400 otherwise
        if corpus.takes(name, value):
            assert result.status == 200, result.body[:300]
        else:
            refused(result)

    check()


def test_unexpected_json_where_the_image_or_the_s3_reference_goes_is_a_400(
    api, lambda_context, capsys, token
):
    members = st.sampled_from(['"image": @', '"s3": @', '"s3": {"bucket": "inputs", "key": @}'])

    @fuzz(150)
    @given(kind=KINDS, member=members, fragment=corpus.UNTAKEN_JSON_VALUES)
    def check(kind, member, fragment):
        # GIVEN deep, huge or non-JSON values as the image, the S3 reference or its key
        event = corpus.json_event(kind, "{" + member.replace("@", fragment) + "}", token)
        # WHEN / THEN a 400
        refused(answer(api, event, lambda_context, capsys))

    check()


def test_a_whole_body_nested_past_the_parser_is_a_400(api, lambda_context, capsys, token):
    @fuzz(40)
    @given(kind=KINDS, binary=st.booleans(), fragment=corpus.deep_json())
    def check(kind, binary, fragment):
        # GIVEN a body that is nothing but nesting
        event = corpus.json_event(kind, fragment, token)
        event = corpus.as_binary(event) if binary else event
        # WHEN / THEN a 400 (a body that is an array or object, but not the one we take)
        refused(answer(api, event, lambda_context, capsys))

    check()


def test_a_key_given_twice_is_a_400_whichever_key_and_values(
    api, lambda_context, capsys, image, token
):
    keys = st.sampled_from([*OPTIONS, "image", "s3", "bucket", "key", "version_id"])
    valid = {"conf": "0.5", "iou": "0.5", "max_det": "5", "classes": "[0]", "agnostic": "true"}

    @fuzz(80)
    @given(kind=KINDS, key=keys, same_value=st.booleans())
    def check(kind, key, same_value):
        # GIVEN a document with one key twice (even with the same value twice): which of
        # the two counts would depend on the parser
        value = valid.get(key, "true")
        other = value if same_value else "0.25"
        if key in ("bucket", "key", "version_id"):
            doc = f'{{"s3": {{"bucket": "inputs", "key": "k", "{key}": "a", "{key}": "b"}}}}'
        elif key == "image":
            doc = f"{{{corpus.image_member(image)}, {corpus.image_member(image)}}}"
        elif key == "s3":
            doc = f"{{{corpus.S3_MEMBER}, {corpus.S3_MEMBER}}}"
        else:
            doc = f'{{{corpus.image_member(image)}, "{key}": {value}, "{key}": {other}}}'
        event = corpus.json_event(kind, doc, token)
        # WHEN / THEN a 400 that names the key
        error = refused(answer(api, event, lambda_context, capsys)).error
        assert f"key '{key}' twice" in error["message"]

    check()


def test_a_json_body_that_is_not_utf8_is_a_400(api, lambda_context, capsys, image, token):
    document = json.dumps({"image": base64.b64encode(image).decode(), "conf": 0.5})
    encodings = ["utf-16", "utf-16-le", "utf-16-be", "utf-32", "utf-32-le", "utf-8-sig"]
    not_utf8 = st.binary(min_size=1, max_size=40).filter(lambda b: not _is_utf8(b))

    @fuzz(150)
    @given(
        kind=KINDS,
        body=st.sampled_from([document.encode(e) for e in encodings])
        | st.builds(lambda junk: b'{"image": "' + junk + b'"}', not_utf8)
        | not_utf8,
        content_type=st.sampled_from(
            ["application/json", "application/json; charset=utf-16", "application/x-amz+json"]
        ),
    )
    def check(kind, body, content_type):
        # GIVEN the right document in UTF-16, UTF-32 or behind a byte order mark, or bytes
        # that are not UTF-8, sent as a binary body (whatever the charset says)
        event = corpus.json_event(kind, "{}", token, content_type)
        event = {**event, "body": base64.b64encode(body).decode(), "isBase64Encoded": True}
        # WHEN / THEN a 400
        refused(answer(api, event, lambda_context, capsys))

    check()


def test_a_text_body_with_lone_surrogates_is_a_400(api, lambda_context, capsys, image, token):
    surrogate = st.characters(categories=["Cs"])

    @fuzz(40)
    @given(kind=KINDS, char=surrogate, where=st.sampled_from(["value", "key", "whole"]))
    def check(kind, char, where):
        # GIVEN a text body (an event's JSON can carry \udXXX escapes) holding a surrogate
        body = {
            "value": f'{{{corpus.image_member(image)}, "classes": "{char}"}}',
            "key": f'{{{corpus.image_member(image)}, "{char}": 1}}',
            "whole": char,
        }[where]
        event = corpus.json_event(kind, body, token)
        # WHEN / THEN a 400: not UTF-8
        assert "UTF-8" in refused(answer(api, event, lambda_context, capsys)).error["message"]

    check()


def test_a_repeated_scalar_option_is_a_400_behind_every_front_door(
    api, lambda_context, capsys, image, token
):
    values = {
        "conf": ["0.5", "0.3"],
        "iou": ["0.5", "0.5"],
        "max_det": ["5", "7"],
        "agnostic": ["true", "false"],
        "multi_label": ["yes", "no"],
        "annotate": ["1", "1"],
    }

    @fuzz(60)
    @given(kind=KINDS, name=SCALAR_NAMES, times=st.integers(2, 5))
    def check(kind, name, times):
        # GIVEN a scalar option repeated in the query string, each value good alone
        repeated = (values[name] * times)[:times]
        event = corpus.image_event(kind, image, token, {name: repeated})
        # WHEN / THEN a 400 behind all three front doors (REST APIs kept the last one)
        refused(answer(api, event, lambda_context, capsys))

    check()


@pytest.mark.parametrize("kind", ["rest", "http", "url"])
def test_a_repeated_class_list_is_the_union_behind_every_front_door(
    api, lambda_context, capsys, dog_jpg: Path, token, kind
):
    photo = dog_jpg.read_bytes()
    # GIVEN classes=dog&classes=car,bicycle, and the same as one list
    repeated = corpus.image_event(kind, photo, token, {"classes": ["dog", "car,bicycle"]})
    joined = corpus.image_event(kind, photo, token, {"classes": ["dog,car,bicycle"]})
    # WHEN both are sent
    answers = [answer(api, event, lambda_context, capsys) for event in (repeated, joined)]
    # THEN both find the same: dogs, cars and bicycles
    labels = [{d["label"] for d in a.document["detections"]} for a in answers]
    assert labels[0] == labels[1] == {"dog", "car", "bicycle"}


def test_ascii_numbers_mean_the_same_as_text_in_any_form_and_as_json_numbers(
    api, lambda_context, capsys, dog_jpg: Path, token
):
    photo = dog_jpg.read_bytes()
    decimals = st.from_regex(r"\A(?:0?\.[0-9]{1,6}|0|1|[1-9]e-[1-3]|0\.[0-9]{1,3}E0)\Z")

    @fuzz(12)
    @given(kind=KINDS, text=decimals, spaces=st.sampled_from(["", " ", "\t "]))
    def check(kind, text, spaces):
        # GIVEN conf as query text (spaces around), as a JSON string and as a JSON number
        query = corpus.option_event(kind, "query", "conf", spaces + text + spaces, photo, token)
        as_text = corpus.option_event(kind, "json", "conf", json.dumps(text), photo, token)
        as_number = corpus.option_event(kind, "json", "conf", repr(float(text)), photo, token)
        # WHEN each is sent
        answers = [answer(api, e, lambda_context, capsys) for e in (query, as_text, as_number)]
        # THEN the same detections, all at or above that threshold (scores have 4 decimals)
        found = [a.document["detections"] for a in answers]
        assert found[0] == found[1] == found[2]
        assert all(d["score"] >= float(text) - 1e-4 for d in found[0])

    check()


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
