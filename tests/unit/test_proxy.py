"""proxy: API Gateway and Function URL events in, their responses out, and the router."""

from __future__ import annotations

import base64
import json
from http import HTTPStatus
from typing import Any

import pytest

from detector.errors import BadRequestError, DetectorError, MethodNotAllowedError
from detector.local import events
from detector.proxy import HttpRequest, Response, Router


# --- the request ------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", events.API_KINDS)
def test_every_front_door_reads_into_the_same_request(kind) -> None:
    # GIVEN the same request through a REST API, an HTTP API and a Function URL
    event = events.api_event(
        kind,
        "POST",
        "/detect",
        body=b"\xff\xd8 jpeg",
        content_type="image/jpeg",
        token="abc",
        query={"conf": "0.5"},
    )
    # WHEN each is read
    request = HttpRequest.from_event(event)
    # THEN they say the same
    assert (request.method, request.path) == ("POST", "/detect")
    assert request.headers["authorization"] == "Bearer abc"
    assert request.headers["content-type"] == "image/jpeg"
    assert request.query == {"conf": "0.5"}
    assert request.is_base64 is True
    assert base64.b64decode(request.body or "") == b"\xff\xd8 jpeg"
    assert request.payload_version == ("1.0" if kind == "rest" else "2.0")


def test_a_rest_api_repeated_query_name_keeps_every_value_joined_by_commas() -> None:
    # payload 1.0 keeps only the last value in queryStringParameters
    event = events.api_event("rest", "GET", "/health")
    event["queryStringParameters"] = {"classes": "cat"}
    event["multiValueQueryStringParameters"] = {"classes": ["dog", "cat"]}

    assert HttpRequest.from_event(event).query == {"classes": "dog,cat"}


def test_header_names_are_case_folded_and_a_name_sent_twice_keeps_both_values() -> None:
    event = events.api_event("rest", "GET", "/health")
    event["headers"] = {"Authorization": "Bearer a", "authorization": "Bearer b", "X-Y": "1"}

    headers = HttpRequest.from_event(event).headers
    # both values, so a token cannot be picked from two by accident
    assert headers == {"authorization": "Bearer a, Bearer b", "x-y": "1"}


@pytest.mark.parametrize(
    ("stage", "raw_path", "path"),
    [
        ("$default", "/detect", "/detect"),
        ("$default", "/detect//", "/detect"),  # and no trailing slash, whatever the stage
        ("prod", "/prod/detect", "/detect"),
        ("prod", "/prod", "/"),
        ("prod", "/detect", "/detect"),  # a custom domain: no stage in the path
        ("prod", "/production/detect", "/production/detect"),  # a prefix, not the stage
    ],
)
def test_an_http_api_path_loses_its_stage_only_where_it_starts_with_it(
    stage, raw_path, path
) -> None:
    event = events.api_event("http", "GET", "/detect")
    event["requestContext"]["stage"] = stage
    event["rawPath"] = raw_path

    assert HttpRequest.from_event(event).path == path


@pytest.mark.parametrize(
    "event",
    [
        None,
        "GET /health",
        {},
        {"httpMethod": "", "path": "/health"},
        {"httpMethod": "GET", "path": None},
        {"version": "2.0", "rawPath": "/health", "requestContext": {"http": "GET"}},
        {"httpMethod": "GET", "path": "/health", "headers": {1: "a"}},
        {"httpMethod": "GET", "path": "/health", "queryStringParameters": {"a": None}},
        {"httpMethod": "GET", "path": "/health", "body": b"bytes"},
    ],
)
def test_what_is_not_an_http_event_is_a_bad_request(event: Any) -> None:
    with pytest.raises(BadRequestError, match="not an API Gateway or Function URL event"):
        HttpRequest.from_event(event)


# --- the response -----------------------------------------------------------------------------
def test_a_response_takes_the_payload_format_of_its_request() -> None:
    response = Response.json(HTTPStatus.OK, {"a": "é"}, {"Retry-After": "5"})

    rest = response.to_event("1.0")
    http = response.to_event("2.0")

    assert rest == {
        "statusCode": 200,
        "multiValueHeaders": {"Retry-After": ["5"], "Content-Type": ["application/json"]},
        "body": '{"a":"é"}',
        "isBase64Encoded": False,
    }
    assert http == {
        "statusCode": 200,
        "headers": {"Retry-After": "5", "Content-Type": "application/json"},
        "cookies": [],
        "body": '{"a":"é"}',
        "isBase64Encoded": False,
    }


def test_a_binary_body_travels_base64_encoded() -> None:
    answer = Response(HTTPStatus.OK, "image/jpeg", b"\xff\xd8\x00").to_event("2.0")

    assert answer["isBase64Encoded"] is True
    assert base64.b64decode(answer["body"]) == b"\xff\xd8\x00"


# --- the router -------------------------------------------------------------------------------
def error_answer(error: Exception) -> Response:
    """What the API handler's on_error does, reduced to what these tests look at."""
    code = error.code if isinstance(error, DetectorError) else "internal_error"
    headers = {"Allow": error.allow} if isinstance(error, MethodNotAllowedError) else {}
    return Response.json(HTTPStatus.IM_A_TEAPOT, {"code": code, "str": str(error)}, headers)


@pytest.fixture
def router() -> Router:
    router = Router()
    router.on_error(error_answer)

    @router.get("/")
    def root(_: HttpRequest) -> Response:
        return Response(HTTPStatus.OK, "text/plain", "root")

    @router.get("/things")
    def things(request: HttpRequest) -> Response:
        return Response.json(HTTPStatus.OK, {"query": dict(request.query)})

    @router.post("/things", guards=[refuse_without_token])
    def add_thing(_: HttpRequest) -> Response:
        return Response(HTTPStatus.CREATED, "text/plain", "added")

    @router.get("/bug")
    def bug(_: HttpRequest) -> Response:
        raise ZeroDivisionError("a bug")

    return router


def refuse_without_token(request: HttpRequest) -> None:
    if "authorization" not in request.headers:
        raise BadRequestError("no token")


def answer(router: Router, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    response = router.resolve(events.api_event("http", method, path, **kwargs), context=None)
    body = response["body"]
    return response["statusCode"], json.loads(body) if body.startswith("{") else body


def test_routes_match_by_method_and_path_ignoring_a_trailing_slash(router) -> None:
    assert answer(router, "GET", "/") == (200, "root")
    assert answer(router, "GET", "/things/", query={"a": "1"}) == (200, {"query": {"a": "1"}})
    assert answer(router, "GET", "/things//") == (200, {"query": {}})


def test_an_unknown_path_is_not_found_and_names_the_routes(router) -> None:
    status, body = answer(router, "GET", "/Things")

    assert status == 418
    assert body == {"code": "not_found", "str": "no such route; try /, /bug, /things"}


def test_a_known_path_with_another_method_is_refused_with_the_methods_it_accepts(router) -> None:
    response = router.resolve(events.api_event("http", "DELETE", "/things"), context=None)

    assert json.loads(response["body"])["code"] == "method_not_allowed"
    assert response["headers"]["Allow"] == "GET, POST"


def test_a_guard_refuses_before_the_route_runs(router) -> None:
    assert answer(router, "POST", "/things") == (418, {"code": "bad_request", "str": "no token"})
    assert answer(router, "POST", "/things", token="t") == (201, "added")


def test_a_bug_in_a_route_still_gets_an_answer_through_on_error(router) -> None:
    assert answer(router, "GET", "/bug") == (418, {"code": "internal_error", "str": "a bug"})


def test_before_each_runs_for_every_request_even_an_unknown_path(router) -> None:
    seen: list[str] = []
    router.before_each.append(lambda request: seen.append(request.path))

    answer(router, "GET", "/")
    answer(router, "GET", "/nowhere")

    assert seen == ["/", "/nowhere"]


def test_the_lambda_context_of_the_invocation_is_at_hand_while_it_is_resolved(
    router: Router,
) -> None:
    seen = []

    @router.get("/context")
    def context(_: HttpRequest) -> Response:
        seen.append(router.lambda_context)
        return Response(HTTPStatus.OK, "text/plain", "")

    router.resolve(events.api_event("rest", "GET", "/context"), context="the context")

    assert seen == ["the context"]


def test_without_an_error_function_what_a_route_raises_propagates() -> None:
    router = Router()

    @router.get("/")
    def root(_: HttpRequest) -> Response:
        raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        router.resolve(events.api_event("rest", "GET", "/"), context=None)


def test_an_event_that_cannot_be_read_is_answered_in_the_format_it_claims(router) -> None:
    assert "cookies" in router.resolve({"version": "2.0"}, context=None)
    assert "multiValueHeaders" in router.resolve({}, context=None)
