"""Hostile requests through the real API handler: it answers 4xx (or 200), never 500.

Random and mutated bodies, JSON documents, base64, query strings, headers, tokens, paths
and methods, in all three event shapes. Derandomised hypothesis tests with the example
counts written here, so a failure reproduces anywhere.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from detector.local import events
from tests import tokens
from tests.functional import hostile
from tests.functional.hostile import fuzz
from tests.lambdas import fresh_module

KINDS = st.sampled_from(list(events.API_KINDS))
CONTENT_TYPES = st.sampled_from(
    [
        None,
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/octet-stream",
        "multipart/form-data; boundary=x",
        "IMAGE/JPEG",
        "image/jpeg; q=0",
    ]
)
OPTION_NAMES = ["conf", "iou", "max_det", "classes", "agnostic", "multi_label", "annotate"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=8,
)


@pytest.fixture
def api(handler_env: pytest.MonkeyPatch) -> ModuleType:
    handler_env.setenv("INPUT_BUCKETS", "inputs")
    return fresh_module("detector.handlers.api")


@pytest.fixture(scope="module")
def images(dog_jpg: Path) -> list[bytes]:
    return list(hostile.small_images(dog_jpg).values())


def answered_without_a_server_error(api: ModuleType, event: dict[str, Any], context: Any) -> int:
    """THEN the handler answers (no exception), below 500, errors in the documented shape."""
    response = api.lambda_handler(event, context)
    status = int(response["statusCode"])
    assert status < 500, response.get("body", "")[:300]
    if status >= 400:
        body = json.loads(response["body"])
        assert set(body) == {"error", "request_id"}
        assert set(body["error"]) == {"code", "message"}
        assert "Traceback" not in body["error"]["message"]
    return status


def with_body(event: dict[str, Any], body: str | None, is_base64: bool) -> dict[str, Any]:
    return {**event, "body": body, "isBase64Encoded": is_base64}


def test_random_raw_bodies_of_any_declared_type_are_refused_cleanly(api, lambda_context):
    token = tokens.hs256()

    @fuzz(1000)
    @given(
        kind=KINDS,
        content_type=CONTENT_TYPES,
        body=hostile.garbage(),
        as_base64=st.booleans(),
        broken_base64=st.text(max_size=50),
    )
    def check(kind, content_type, body, as_base64, broken_base64):
        # GIVEN random bytes (behind a magic number), declared as any content type,
        # delivered base64 or as text, or as text that claims to be base64 but is not
        event = events.api_event(
            kind, "POST", "/detect", body=b"", content_type=content_type, token=token
        )
        if as_base64:
            event = with_body(event, base64.b64encode(body).decode(), True)
        else:
            event = with_body(event, broken_base64, True)
        # WHEN / THEN it is answered, never with a 5xx
        answered_without_a_server_error(api, event, lambda_context)

    check()


def test_mutated_images_in_raw_bodies_are_detected_in_or_refused(api, lambda_context, images):
    token = tokens.hs256()

    @fuzz(300)
    @given(kind=KINDS, data=st.data())
    def check(kind, data):
        # GIVEN a real small picture with a few bytes flipped, cut or inserted
        mutant = data.draw(hostile.mutated(images))
        event = events.api_event(
            kind, "POST", "/detect", body=mutant, content_type="image/jpeg", token=token
        )
        # WHEN / THEN the answer is a 200 or a 4xx
        answered_without_a_server_error(api, event, lambda_context)

    check()


def test_random_json_documents_are_refused_cleanly(api, lambda_context, images):
    token = tokens.hs256()
    image_values = st.sampled_from(images).map(lambda b: base64.b64encode(b).decode())
    documents = st.fixed_dictionaries(
        {},
        optional={
            "image": image_values | JSON_VALUES | st.text(max_size=200),
            "s3": JSON_VALUES
            | st.fixed_dictionaries({"bucket": JSON_VALUES, "key": JSON_VALUES})
            | st.fixed_dictionaries({"bucket": st.just("inputs"), "key": st.text(max_size=40)}),
            **{name: JSON_VALUES for name in OPTION_NAMES},
        },
    )

    @fuzz(1000)
    @given(kind=KINDS, document=documents | JSON_VALUES, raw=st.none() | st.binary(max_size=60))
    def check(kind, document, raw):
        # GIVEN any JSON document (with or without a valid image, odd options, s3 refs),
        # or bytes that are not JSON at all, declared as JSON
        body = json.dumps(document).encode()
        event = events.api_event(
            kind, "POST", "/detect", body=body, content_type="application/json", token=token
        )
        if raw is not None:  # not text: the front door delivers it base64
            event = with_body(event, base64.b64encode(raw).decode(), True)
        # WHEN / THEN it is answered, never with a 5xx
        answered_without_a_server_error(api, event, lambda_context)

    check()


def test_random_query_strings_on_a_good_image_are_refused_or_applied(api, lambda_context, images):
    token = tokens.hs256()
    names = st.sampled_from(OPTION_NAMES) | st.text(max_size=10)
    values = (
        st.text(max_size=20)
        | st.sampled_from(["nan", "inf", "-inf", "1e309", "-0", "0x10", "1_0", "person,dog", ""])
        | st.integers().map(str)
        | st.floats().map(str)
    )

    @fuzz(400)
    @given(kind=KINDS, query=st.dictionaries(names, values, max_size=4))
    def check(kind, query):
        # GIVEN a good image with any query string
        event = events.api_event(
            kind,
            "POST",
            "/detect",
            body=images[0],
            content_type="image/jpeg",
            token=token,
            query=query,
        )
        # WHEN / THEN it is answered, never with a 5xx
        answered_without_a_server_error(api, event, lambda_context)

    check()


def test_random_headers_tokens_paths_and_methods_are_refused_cleanly(api, lambda_context, images):
    valid = tokens.hs256()
    header_values = st.text(max_size=80) | st.sampled_from(
        [f"Bearer {valid}", f"bearer {valid}x", f"Bearer  {valid} ", "Basic dXNlcjpwYXNz"]
    )

    @fuzz(800)
    @given(
        kind=KINDS,
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
        path=st.sampled_from(["/detect", "/model", "/health", "/", "/detect/", "//detect"])
        | st.text(max_size=30).map("/".__add__),
        headers=st.dictionaries(
            st.sampled_from(["authorization", "content-type", "accept", "content-length"])
            | st.text(min_size=1, max_size=10),
            header_values,
            max_size=4,
        ),
    )
    def check(kind, method, path, headers):
        # GIVEN any method, path and headers (tokens among them), with a good image
        event = events.api_event(kind, method, path, body=images[0], headers=headers)
        # WHEN / THEN it is answered, never with a 5xx
        answered_without_a_server_error(api, event, lambda_context)

    check()
