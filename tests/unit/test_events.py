"""The event builders produce what AWS sends, as Powertools' own event classes read it."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities.data_classes import (
    APIGatewayProxyEvent,
    APIGatewayProxyEventV2,
    EventBridgeEvent,
    LambdaFunctionUrlEvent,
    S3Event,
    SQSEvent,
)

from detector.local import events

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "infra" / "events"


def test_a_rest_api_event_carries_a_binary_body_base64_and_the_stage_in_the_context() -> None:
    # GIVEN a JPEG posted through a REST API stage "prod"
    event = events.api_event(
        "rest",
        "POST",
        "/detect",
        body=b"\xff\xd8jpeg",
        content_type="image/jpeg",
        token="t.o.k",
        query={"conf": "0.5"},
    )

    # WHEN Powertools reads it
    parsed = APIGatewayProxyEvent(event)

    # THEN path, method, body, headers and query are where API Gateway puts them
    assert parsed.path == "/detect"
    assert parsed.request_context.path == "/prod/detect"
    assert parsed.http_method == "POST"
    assert parsed.is_base64_encoded
    assert base64.b64decode(parsed.body or "") == b"\xff\xd8jpeg"
    assert parsed.headers.get("authorization") == "Bearer t.o.k"
    assert parsed.headers.get("Content-Type") == "image/jpeg"
    assert parsed.query_string_parameters == {"conf": "0.5"}


def test_an_http_api_event_is_payload_2_0_with_a_route_key() -> None:
    event = events.api_event("http", "GET", "/model", token="abc")
    parsed = APIGatewayProxyEventV2(event)

    assert event["version"] == "2.0"
    assert parsed.route_key == "GET /model"
    assert parsed.path == "/model"
    assert parsed.http_method == "GET"
    assert "body" not in event


def test_a_function_url_event_has_the_default_route_and_a_lambda_url_host() -> None:
    event = events.api_event(
        "url", "POST", "/detect", body=b'{"image": ""}', content_type="application/json"
    )
    parsed = LambdaFunctionUrlEvent(event)

    assert parsed.request_context.domain_name.endswith(".lambda-url.us-east-1.on.aws")
    assert event["routeKey"] == "$default"
    assert not parsed.is_base64_encoded  # JSON is text: sent as it is
    assert parsed.json_body == {"image": ""}


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("uploads/red flower.jpg", "uploads/red+flower.jpg"),
        ("uploads/c++.jpg", "uploads/c%2B%2B.jpg"),
        ("uploads/ünï cødé.png", "uploads/%C3%BCn%C3%AF+c%C3%B8d%C3%A9.png"),
    ],
)
def test_s3_and_eventbridge_events_carry_the_key_url_encoded_as_s3_does(
    key: str, encoded: str
) -> None:
    notification = events.s3_notification("bucket", key, version_id="v1")
    bridge = events.eventbridge_event("bucket", key)

    assert S3Event(notification).record.s3.get_object.key == encoded
    assert S3Event(notification).record.s3.get_object.version_id == "v1"
    assert EventBridgeEvent(bridge).detail["object"]["key"] == encoded


def test_an_sqs_event_carries_each_notification_as_a_message_body() -> None:
    notification = events.s3_notification("bucket", "uploads/a.jpg")
    parsed = SQSEvent(events.sqs_event([notification, "not json"]))

    bodies = [record.body for record in parsed.records]
    assert json.loads(bodies[0]) == notification
    assert bodies[1] == "not json"
    assert len({record.message_id for record in parsed.records}) == 2


def test_handler_kind_tells_http_requests_from_upload_events() -> None:
    assert events.handler_kind(events.api_event("rest", "GET", "/health")) == "api"
    assert events.handler_kind(events.api_event("url", "GET", "/health")) == "api"
    assert events.handler_kind(events.s3_notification("b", "k")) == "s3"
    assert events.handler_kind(events.eventbridge_event("b", "k")) == "s3"
    assert events.handler_kind(events.batch_operations_event("b", "k")) == "s3"


def test_the_sample_events_in_infra_are_what_the_builders_make(tmp_path: Path) -> None:
    # GIVEN the generator run into an empty folder
    subprocess.run([sys.executable, str(SAMPLES / "make_events.py"), str(tmp_path)], check=True)

    # THEN every committed sample is byte for byte what it writes
    names = sorted(path.name for path in tmp_path.glob("*.json"))
    assert len(names) == 10
    for name in names:
        assert (SAMPLES / name).read_text() == (tmp_path / name).read_text(), name
