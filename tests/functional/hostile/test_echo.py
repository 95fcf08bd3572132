"""Class 7 of issue 12: what an error quotes from the request is short, and so is its body.

A class name of a few MB came back in a 400 body of 11 MB: past Lambda's 6 MB, so API
Gateway would have answered a bare 502. Here every place an error can quote the request
(class names, option names and values, keys, buckets, S3 keys, media types, tokens) gets
text of up to 2 million characters of any kind (control characters, lone surrogates,
astral characters), through the real API handler in all three event shapes. Every answer
and every log line stays under 4 KB (``corpus.answer``), and a message still quotes the
start of what it refuses. Derandomised hypothesis tests with the example counts written
here, so a failure reproduces anywhere.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from types import ModuleType
from typing import Any

import boto3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.errors import MAX_ECHO_CHARS
from detector.local import events
from tests import tokens
from tests.functional.hostile import corpus, fuzz
from tests.functional.hostile.corpus import KINDS, answer, refused
from tests.lambdas import fresh_module, logs_to_current_stdout

MARK = "zz-hostile:"  # starts every quoted value: no class, option, bucket or type has it
ANY_CHARACTER = st.characters(exclude_categories=())  # lone surrogates and controls too
# Up to 2 million characters: 8 MB of UTF-8, 24 MB as JSON escapes (under the JSON limit).
SIZES = st.sampled_from([0, 1, MAX_ECHO_CHARS, 400, 4096, 100_000, 2_000_000]) | st.integers(
    0, 20_000
)


@st.composite
def long_text(draw: st.DrawFn) -> str:
    """``MARK``, some text of any kind, then one character repeated up to 2 million times."""
    head = draw(st.text(ANY_CHARACTER, max_size=20))
    return MARK + head + draw(ANY_CHARACTER) * draw(SIZES)


@pytest.fixture
def api(handler_env: pytest.MonkeyPatch) -> ModuleType:
    handler_env.setenv("INPUT_BUCKETS", corpus.INPUT_BUCKET)
    boto3.client("s3").create_bucket(Bucket=corpus.INPUT_BUCKET)
    return fresh_module("detector.handlers.api")


Site = Callable[[events.ApiKind, str, bytes, str], dict[str, Any]]


def in_json(kind: events.ApiKind, document: str, token: str) -> dict[str, Any]:
    return corpus.json_event(kind, document, token)


# Where a request's text can be quoted back: name -> (the request, the status and code).
def dumps(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


SITES: dict[str, tuple[Site, int, str]] = {
    "class name in the query": (
        lambda kind, text, image, token: corpus.image_event(
            kind, image, token, {"classes": [text]}
        ),
        400,
        "bad_request",
    ),
    "class name in a JSON list": (
        lambda kind, text, image, token: in_json(
            kind, f'{{{corpus.image_member(image)}, "classes": [{json.dumps(text)}]}}', token
        ),
        400,
        "bad_request",
    ),
    "option name in the query": (
        lambda kind, text, image, token: corpus.image_event(kind, image, token, {text: ["1"]}),
        400,
        "bad_request",
    ),
    "option name in JSON": (
        lambda kind, text, image, token: in_json(
            kind, f"{{{corpus.image_member(image)}, {json.dumps(text)}: 1}}", token
        ),
        400,
        "bad_request",
    ),
    "option value": (
        lambda kind, text, image, token: corpus.image_event(kind, image, token, {"iou": [text]}),
        400,
        "bad_request",
    ),
    "key given twice": (
        # Raw UTF-8, not \u escapes: two escaped copies of 2 million astral characters
        # would pass the JSON body limit (a 413 before any key is read).
        lambda kind, text, image, token: in_json(
            kind, f"{{{dumps(text)}: 1, {dumps(text)}: 2}}", token
        ),
        400,
        "bad_request",
    ),
    "bucket": (
        lambda kind, text, image, token: in_json(
            kind, json.dumps({"s3": {"bucket": text, "key": "k"}}), token
        ),
        403,
        "forbidden",
    ),
    "media type": (
        lambda kind, text, image, token: corpus.image_event(
            kind, image, token, content_type="x-" + text.lower()
        ),
        415,
        "unsupported_media_type",
    ),
}


def test_whatever_a_request_carries_its_error_quotes_a_short_prefix(
    api, lambda_context, capsys, image, token
):
    @fuzz(160)
    @given(kind=KINDS, site=st.sampled_from(sorted(SITES)), text=long_text())
    def check(kind, site, text):
        # GIVEN text of up to 2 million characters of any kind, where an error quotes it
        build, status, code = SITES[site]
        event = build(kind, text, image, token)
        # WHEN / THEN refused with a small body (corpus.answer: under 4 KB) ...
        message = refused(answer(api, event, lambda_context, capsys), status, code).error
        # ... that still quotes the start of what was refused
        assert MARK in message["message"], message

    check()


def test_a_class_name_of_3_mb_gets_a_400_of_less_than_1_kb(api, lambda_context, capsys, image):
    # GIVEN the example of the issue: an unknown class name of a few MB
    name = MARK + "x" * 3_000_000
    for kind in events.API_KINDS:
        event = corpus.image_event(kind, image, tokens.hs256(), {"classes": [name]})
        # WHEN / THEN a 400 under 1 KB that names its first characters and its length
        result = refused(answer(api, event, lambda_context, capsys))
        assert len(result.body) < 1024
        assert f"{MARK}xxxx" in result.error["message"]
        assert "3,000,011 characters" in result.error["message"]


def test_a_hundred_thousand_unknown_options_are_one_short_error(
    api, lambda_context, capsys, image, token
):
    names = {f"{MARK}{index}": "1" for index in range(100_000)}
    document = json.dumps({"image": base64.b64encode(image).decode(), **names})
    for kind in events.API_KINDS:
        result = refused(answer(api, in_json(kind, document, token), lambda_context, capsys))
        assert "(and 99,999 more)" in result.error["message"]


def test_s3_keys_are_refused_or_quoted_short(api, lambda_context, capsys, token):
    @fuzz(60)
    @given(kind=KINDS, text=long_text())
    def check(kind, text):
        # GIVEN any key, up to 2 million characters: S3 holds up to 1024 bytes of UTF-8
        document = json.dumps({"s3": {"bucket": corpus.INPUT_BUCKET, "key": text}})
        # WHEN it is asked for
        result = answer(api, in_json(kind, document, token), lambda_context, capsys)
        # THEN a key S3 could hold is not found (quoted short), another one is a 400
        try:
            fits = len(text.encode("utf-8")) <= 1024
        except UnicodeEncodeError:
            fits = False
        if fits:
            refused(result, 404, "storage_not_found")
        else:
            assert "at most 1024 bytes" in refused(result).error["message"]

    check()


def test_headers_and_paths_of_any_size_are_never_quoted(api, lambda_context, capsys, image):
    @fuzz(60)
    @given(kind=KINDS, text=long_text(), where=st.sampled_from(["token", "accept", "path"]))
    def check(kind, text, where):
        # GIVEN a huge token, Accept header or path
        if where == "path":
            event = events.api_event(kind, "GET", "/" + text, token=tokens.hs256())
        else:
            headers = {"authorization": "Bearer " + text} if where == "token" else {}
            if where == "accept":
                headers = {"authorization": "Bearer " + tokens.hs256(), "accept": text}
            event = events.api_event(
                kind, "POST", "/detect", body=image, content_type="image/jpeg", headers=headers
            )
        # WHEN / THEN answered (small, corpus.answer), and the text is nowhere in the body
        result = answer(api, event, lambda_context, capsys)
        assert MARK not in result.body

    check()


def test_an_unexpected_error_is_a_fixed_500_logged_once_with_its_traceback(
    api, lambda_context, capsys, image, token, monkeypatch
):
    # GIVEN a bug whose exception holds what a request carried: line breaks, a lone
    # surrogate, a megabyte of text (a stand-in for any bug in the request path)
    detail = f"{MARK}\nsecond line \ud800 " + "y" * 1_000_000

    def broken(**_: object) -> None:
        raise ValueError(detail)

    monkeypatch.setattr(api, "parse_detect_request", broken)
    for kind in events.API_KINDS:
        capsys.readouterr()
        with logs_to_current_stdout():
            response = api.lambda_handler(corpus.image_event(kind, image, token), lambda_context)
        captured = capsys.readouterr()
        # THEN a 500 that says nothing of it
        assert response["statusCode"] == 500
        body = json.loads(response["body"])
        assert body["error"] == {
            "code": "internal_error",
            "message": "internal error; quote the request_id when reporting it",
        }
        # ... and the log has it once, as one JSON line with the traceback, written whole
        # (nothing on stderr: a surrogate no longer makes logging fail)
        assert captured.err == ""
        lines = [json.loads(line) for line in captured.out.splitlines()]
        crashes = [line for line in lines if line.get("message") == "unhandled error"]
        assert len(crashes) == 1
        assert crashes[0]["level"] == "ERROR" and crashes[0]["exception_name"] == "ValueError"
        assert "Traceback" in crashes[0]["exception"] and MARK in crashes[0]["exception"]
        assert crashes[0]["function_request_id"] == lambda_context.aws_request_id
