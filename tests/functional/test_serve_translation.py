"""The local server's half of `detector serve`: HTTP request -> HTTP API 2.0 event, and the
handler's proxy response -> HTTP response.

The Lambda handler here is a recorder, because what is under test is the translation;
the real API handler behind the same server is tested in test_serve_api.py.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from detector.local import serve


class Recorder:
    """A Lambda handler that keeps the events and answers with a canned proxy response."""

    def __init__(self, response: Any = None) -> None:
        self.events: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.response = response or {"statusCode": 204, "headers": {}, "body": ""}

    def __call__(self, event: dict[str, Any], context: Any) -> Any:
        self.events.append(event)
        self.contexts.append(context)
        if isinstance(self.response, Exception):
            raise self.response
        return self.response


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def server(recorder: Recorder) -> Iterator[serve.LocalApiServer]:
    with serve.running(serve.make_server(port=0, handler=recorder)) as running:
        yield running


def test_a_binary_post_becomes_an_http_api_v2_event(
    server: serve.LocalApiServer, recorder: Recorder, dog_jpg
):
    # GIVEN a JPEG posted with a query, a cookie and a repeated header
    image = dog_jpg.read_bytes()
    send(
        server,
        "POST",
        "/detect?conf=0.5&classes=1&classes=16",
        image,
        [
            ("Content-Type", "image/jpeg"),
            ("Authorization", "Bearer abc.def.ghi"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Forwarded-For", "10.0.0.2"),
            ("Cookie", "a=1; b=2"),
        ],
    )
    # THEN the handler got the event API Gateway would have sent
    (event,) = recorder.events
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == "/detect"
    assert event["rawQueryString"] == "conf=0.5&classes=1&classes=16"
    assert event["queryStringParameters"] == {"conf": "0.5", "classes": "1,16"}
    assert event["headers"]["content-type"] == "image/jpeg"
    assert event["headers"]["authorization"] == "Bearer abc.def.ghi"
    assert event["headers"]["x-forwarded-for"] == "10.0.0.1,10.0.0.2"
    assert "cookie" not in event["headers"]
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == image
    http_context = event["requestContext"]["http"]
    assert http_context["method"] == "POST"
    assert http_context["path"] == "/detect"
    assert http_context["sourceIp"] == "127.0.0.1"
    # AND the Lambda context carries the same request id
    assert recorder.contexts[0].aws_request_id == event["requestContext"]["requestId"]
    assert recorder.contexts[0].get_remaining_time_in_millis() > 0


def test_a_json_body_is_passed_as_text(server: serve.LocalApiServer, recorder: Recorder):
    payload = json.dumps({"s3_uri": "s3://bucket/uploads/dog.jpg"}).encode()
    send(server, "POST", "/detect", payload, [("Content-Type", "application/json")])
    (event,) = recorder.events
    assert event["isBase64Encoded"] is False
    assert json.loads(event["body"]) == {"s3_uri": "s3://bucket/uploads/dog.jpg"}


def test_a_get_without_body_or_query_has_neither_in_the_event(
    server: serve.LocalApiServer, recorder: Recorder
):
    send(server, "GET", "/health")
    (event,) = recorder.events
    assert "body" not in event
    assert "queryStringParameters" not in event
    assert event["rawQueryString"] == ""


def test_a_base64_response_body_is_decoded_on_the_wire(recorder: Recorder):
    # GIVEN a handler answering with a binary body, a header and a cookie
    recorder.response = {
        "statusCode": 201,
        "headers": {"Content-Type": "image/jpeg", "X-Request-Id": "r1"},
        "cookies": ["session=1; HttpOnly"],
        "body": base64.b64encode(b"\xff\xd8binary\x00").decode(),
        "isBase64Encoded": True,
    }
    with serve.running(serve.make_server(port=0, handler=recorder)) as server:
        status, headers, body = send(server, "GET", "/anything")
    # THEN the client gets the bytes, the status and the headers
    assert status == 201
    assert body == b"\xff\xd8binary\x00"
    assert headers["content-type"] == "image/jpeg"
    assert headers["x-request-id"] == "r1"
    assert headers["set-cookie"] == "session=1; HttpOnly"


def test_a_plain_return_value_is_sent_as_json(recorder: Recorder):
    recorder.response = {"ok": True}
    with serve.running(serve.make_server(port=0, handler=recorder)) as server:
        status, headers, body = send(server, "GET", "/health")
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(body) == {"ok": True}


def test_a_failing_handler_gives_a_500_and_the_server_keeps_serving(recorder: Recorder):
    recorder.response = RuntimeError("boom")
    with serve.running(serve.make_server(port=0, handler=recorder)) as server:
        status, _, body = send(server, "GET", "/health")
        assert status == 500
        assert json.loads(body)["error"]["code"] == "internal_error"
        assert b"boom" not in body
        # AND the next request is served
        recorder.response = {"statusCode": 200, "body": "fine"}
        assert send(server, "GET", "/health")[2] == b"fine"


def test_a_body_over_the_cap_is_refused_without_calling_the_handler(recorder: Recorder):
    # GIVEN a server with a 1 KB cap
    small = serve.LocalApiServer(("127.0.0.1", 0), recorder, max_body_bytes=1024)
    with serve.running(small) as server:
        status, _, body = send(
            server, "POST", "/detect", b"x" * 2048, [("Content-Type", "image/jpeg")]
        )
    assert status == 413
    assert json.loads(body)["error"]["code"] == "too_large"
    assert recorder.events == []


def send(
    server: serve.LocalApiServer,
    method: str,
    target: str,
    body: bytes = b"",
    headers: list[tuple[str, str]] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, lowercased headers, body)."""
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(str(host), port, timeout=10)
    try:
        connection.putrequest(method, target)
        for name, value in headers or []:
            connection.putheader(name, value)
        if body:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders()
        if body:
            connection.send(body)
        response = connection.getresponse()
        return (
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            response.read(),
        )
    finally:
        connection.close()
