"""Hostile uploads and messages through the real S3 handler (moto).

Any key and any bytes under the uploads prefix end in a result file (detections or an
error), never an exception; SQS messages that are not notifications are reported for a
retry, never raised past the batch. Derandomised hypothesis tests with the example counts
written here, so a failure reproduces anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from detector.errors import BadRequestError, DetectorError
from detector.local import events
from tests.functional import hostile
from tests.functional.conftest import UPLOADS_BUCKET
from tests.functional.hostile import fuzz
from tests.lambdas import logs_to_current_stdout

BUCKET = UPLOADS_BUCKET
# S3 keys are up to 1024 bytes of UTF-8; control characters and lone surrogates are left
# out because no S3 client can send them in a key.
# A key ending in "/" is a folder marker, skipped on purpose.
KEY_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=60
).filter(lambda name: not name.endswith("/"))


def test_any_key_and_any_bytes_under_uploads_end_in_a_result_file(
    uploads_handler, s3, lambda_context, dog_jpg: Path
):
    seeds = list(hostile.small_images(dog_jpg).values())
    bodies = hostile.garbage() | hostile.mutated(seeds) | st.sampled_from(seeds)

    @fuzz(120)
    @given(name=KEY_TEXT, body=bodies, via_sqs=st.booleans())
    def check(name: str, body: bytes, via_sqs: bool) -> None:
        # GIVEN any bytes uploaded under any key in the uploads prefix
        key = f"uploads/{name}"
        put = s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        notification = events.s3_notification(
            BUCKET, key, size=len(body), etag=put["ETag"].strip('"')
        )
        event = events.sqs_event([notification]) if via_sqs else notification
        # WHEN the handler is notified THEN it does not raise (nothing to retry)
        response = uploads_handler.lambda_handler(event, lambda_context)
        if via_sqs:
            assert response == {"batchItemFailures": []}
        # AND the result file names the object and holds detections or the error
        result_key = f"detections/{key}.json"
        result = json.loads(s3.get_object(Bucket=BUCKET, Key=result_key)["Body"].read())
        assert result["source"]["key"] == key
        assert ("error" in result) != ("detections" in result)
        if "error" in result:
            assert set(result["error"]) >= {"code", "message"}

    check()


def test_sqs_messages_that_are_not_notifications_are_reported_not_raised(
    uploads_handler, s3, lambda_context
):
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
        ),
        max_leaves=8,
    )
    bodies = (
        st.text(max_size=100)
        | json_values.map(json.dumps)
        | st.fixed_dictionaries({"Records": st.lists(json_values, max_size=2)}).map(json.dumps)
    )

    @fuzz(250)
    @given(messages=st.lists(bodies, min_size=1, max_size=3))
    def check(messages: list[str]) -> None:
        # GIVEN an SQS batch of messages with any bodies
        event = events.sqs_event(messages)
        ids = {record["messageId"] for record in event["Records"]}
        # WHEN it is processed THEN failures are reported per message (all failing: the
        # batch as a whole), never another exception
        try:
            response = uploads_handler.lambda_handler(event, lambda_context)
        except DetectorError:  # all failing: the invocation fails with the first reason
            return
        assert {item["itemIdentifier"] for item in response["batchItemFailures"]} <= ids

    check()


def test_direct_events_of_any_shape_are_refused_as_bad_requests_and_logged(
    uploads_handler, s3, lambda_context, capsys
):
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
        ),
        max_leaves=8,
    )
    record = st.fixed_dictionaries(
        {"eventSource": st.just("aws:s3"), "eventName": st.just("ObjectCreated:Put")},
        optional={"s3": json_values},
    )
    shapes = (
        json_values
        | st.fixed_dictionaries({"Records": st.lists(record | json_values, min_size=1, max_size=2)})
        | st.fixed_dictionaries(
            {"source": st.just("aws.s3"), "detail-type": st.just("Object Created")},
            optional={"detail": json_values},
        )
    )

    @fuzz(150)
    @given(event=shapes)
    def check(event: Any) -> None:
        capsys.readouterr()
        # WHEN the function is invoked with an event of any shape
        try:
            with logs_to_current_stdout():
                uploads_handler.lambda_handler(event, lambda_context)
        except BadRequestError:
            # THEN a refusal is a 400-kind error, never a KeyError or AttributeError, and
            # one log line says so
            lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
            assert [line["code"] for line in lines if "outcome" in line] == ["bad_request"]

    check()
