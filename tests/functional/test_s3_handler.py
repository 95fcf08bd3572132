"""The S3 upload handler end to end through moto: direct, SQS and EventBridge events."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from detector.errors import BadRequestError, ConfigurationError, ModelUnavailableError
from detector.local import events
from tests.functional.conftest import UPLOADS_BUCKET
from tests.lambdas import fresh_module

BUCKET = UPLOADS_BUCKET
RESULTS = "detector-results"


def upload(s3: Any, key: str, body: bytes, now: datetime = events.EPOCH) -> dict[str, Any]:
    """Put an object and return the S3 notification S3 would send for it."""
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=body)
    return events.s3_notification(
        BUCKET,
        key,
        size=len(body),
        etag=response["ETag"].strip('"'),
        version_id=response.get("VersionId"),
        now=now,
    )


def result_of(s3: Any, key: str, bucket: str = BUCKET) -> dict[str, Any]:
    """The result of ``key``, beside it; with ``bucket`` a results bucket, the path there."""
    path = f"detections/{key}.json" if bucket == BUCKET else f"detections/{BUCKET}/{key}.json"
    body = s3.get_object(Bucket=bucket, Key=path)["Body"].read()
    document: dict[str, Any] = json.loads(body)
    return document


def keys(s3: Any, bucket: str = BUCKET) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.mark.parametrize(
    "key",
    [
        "uploads/dog.jpg",
        "uploads/street photos/dog bike.jpg",
        "uploads/c++ dog.jpg",
        "uploads/100% dog=1&b;c.jpg",
        "uploads/hünd/狗 🐕.jpg",
    ],
    ids=["plain", "spaces", "plus", "reserved", "unicode"],
)
def test_an_upload_gets_a_result_file_next_to_it_whatever_its_key(
    uploads_handler, s3, lambda_context, dog_jpg: Path, model_bytes, key: str
) -> None:
    # GIVEN the photo uploaded under an odd key
    event = upload(s3, key, dog_jpg.read_bytes())

    # WHEN S3 notifies the handler
    uploads_handler.lambda_handler(event, lambda_context)

    # THEN the result names the object and holds its detections
    result = result_of(s3, key)
    assert result["source"]["bucket"] == BUCKET
    assert result["source"]["key"] == key
    assert result["source"]["etag"] == event["Records"][0]["s3"]["object"]["eTag"]
    assert {"dog", "bicycle"} <= {d["label"] for d in result["detections"]}
    assert result["model"]["sha256"] == hashlib.sha256(model_bytes).hexdigest()
    assert "error" not in result


def test_a_redelivered_event_rewrites_the_same_result(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    event = upload(s3, "uploads/dog.jpg", dog_jpg.read_bytes())

    uploads_handler.lambda_handler(event, lambda_context)
    first = result_of(s3, "uploads/dog.jpg")
    objects = keys(s3)
    uploads_handler.lambda_handler(event, lambda_context)
    second = result_of(s3, "uploads/dog.jpg")

    assert keys(s3) == objects
    assert second["detections"] == first["detections"]
    assert second["source"] == first["source"]


def test_a_non_image_gets_a_result_file_with_the_error(uploads_handler, s3, lambda_context) -> None:
    event = upload(s3, "uploads/notes.txt", b"these are not pixels")

    uploads_handler.lambda_handler(event, lambda_context)

    result = result_of(s3, "uploads/notes.txt")
    assert result["error"]["code"] == "invalid_image"
    assert "detections" not in result


def test_an_object_deleted_before_processing_gets_a_result_file_with_the_error(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    event = upload(s3, "uploads/gone.jpg", dog_jpg.read_bytes())
    s3.delete_object(Bucket=BUCKET, Key="uploads/gone.jpg")

    uploads_handler.lambda_handler(event, lambda_context)

    assert result_of(s3, "uploads/gone.jpg")["error"]["code"].endswith("not_found")


@pytest.mark.parametrize(
    "key", ["elsewhere/dog.jpg", "detections/uploads/dog.jpg.json", "annotated/uploads/dog.jpg.jpg"]
)
def test_objects_outside_uploads_and_our_own_outputs_are_skipped(
    uploads_handler, s3, lambda_context, dog_jpg: Path, key: str
) -> None:
    event = upload(s3, key, dog_jpg.read_bytes())

    assert uploads_handler.lambda_handler(event, lambda_context) == {"processed": ["skipped"]}
    assert keys(s3) == {key}


@pytest.mark.parametrize("max_side", [None, 300])
def test_with_annotate_the_drawn_image_is_written_too(
    handler_env, s3, lambda_context, dog_jpg: Path, max_side
) -> None:
    handler_env.setenv("ANNOTATE", "1")
    if max_side is not None:
        handler_env.setenv("ANNOTATED_MAX_SIDE", str(max_side))
    uploads_handler = fresh_module("detector.handlers.s3")
    event = upload(s3, "uploads/dog.jpg", dog_jpg.read_bytes())

    uploads_handler.lambda_handler(event, lambda_context)

    drawn = s3.get_object(Bucket=BUCKET, Key="annotated/uploads/dog.jpg.jpg")
    assert drawn["ContentType"] == "image/jpeg"
    with Image.open(io.BytesIO(drawn["Body"].read())) as image, Image.open(dog_jpg) as original:
        # the 768x576 photo is under the default 2048 pixels; for 300 it is decoded at 1/4
        assert image.size == (original.size if max_side is None else (192, 144))
    assert result_of(s3, "uploads/dog.jpg")["annotated"]["key"] == "annotated/uploads/dog.jpg.jpg"


def test_results_go_to_the_results_bucket_when_one_is_set(
    handler_env, s3, lambda_context, dog_jpg: Path
) -> None:
    handler_env.setenv("RESULTS_BUCKET", RESULTS)
    s3.create_bucket(Bucket=RESULTS)
    uploads_handler = fresh_module("detector.handlers.s3")

    uploads_handler.lambda_handler(
        upload(s3, "uploads/dog.jpg", dog_jpg.read_bytes()), lambda_context
    )

    assert keys(s3) == {"uploads/dog.jpg"}
    assert result_of(s3, "uploads/dog.jpg", bucket=RESULTS)["source"]["bucket"] == BUCKET


def test_the_result_describes_the_version_named_in_the_event(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    # GIVEN a versioned bucket where the photo was replaced after the first upload's event
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first_event = upload(s3, "uploads/pic.jpg", dog_jpg.read_bytes())
    upload(s3, "uploads/pic.jpg", b"now a text file")

    # WHEN the first event arrives late
    uploads_handler.lambda_handler(first_event, lambda_context)

    # THEN the photo's version is what was analysed
    result = result_of(s3, "uploads/pic.jpg")
    assert result["source"]["version_id"] == first_event["Records"][0]["s3"]["object"]["versionId"]
    assert "dog" in {d["label"] for d in result["detections"]}


def test_an_older_event_delivered_late_does_not_replace_the_result_of_a_newer_upload(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    # GIVEN two uploads to one key of a versioned bucket: a text file, then the photo
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    older = upload(s3, "uploads/pic.jpg", b"not a picture")
    newer = upload(s3, "uploads/pic.jpg", dog_jpg.read_bytes(), events.EPOCH + timedelta(seconds=1))

    # WHEN S3 delivers the newer event first and the older one after it
    uploads_handler.lambda_handler(newer, lambda_context)
    response = uploads_handler.lambda_handler(older, lambda_context)

    # THEN the older one is skipped and the result still describes the photo
    assert response == {"processed": ["skipped"]}
    result = result_of(s3, "uploads/pic.jpg")
    assert result["source"]["version_id"] == newer["Records"][0]["s3"]["object"]["versionId"]
    assert "dog" in {d["label"] for d in result["detections"]}


def test_sequencers_of_different_lengths_are_ordered_as_numbers(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    # GIVEN the photo's event with a longer sequencer than the older text file's event:
    # "1000" is later than "FFF" although it sorts before it as a string
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    older = upload(s3, "uploads/pic.jpg", b"not a picture")
    newer = upload(s3, "uploads/pic.jpg", dog_jpg.read_bytes())
    older["Records"][0]["s3"]["object"]["sequencer"] = "FFF"
    newer["Records"][0]["s3"]["object"]["sequencer"] = "1000"

    # WHEN the newer event arrives first
    uploads_handler.lambda_handler(newer, lambda_context)
    response = uploads_handler.lambda_handler(older, lambda_context)

    # THEN the older one is skipped
    assert response == {"processed": ["skipped"]}
    assert "dog" in {d["label"] for d in result_of(s3, "uploads/pic.jpg")["detections"]}


def test_an_eventbridge_event_is_processed_like_a_notification(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    key = "uploads/from bridge+1.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=dog_jpg.read_bytes())

    uploads_handler.lambda_handler(events.eventbridge_event(BUCKET, key), lambda_context)

    assert "dog" in {d["label"] for d in result_of(s3, key)["detections"]}


# --- SQS: partial batch responses -------------------------------------------------------------
def test_an_sqs_batch_with_one_bad_message_reports_only_that_message(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    # GIVEN three messages: two uploads and one that is not an S3 notification
    good_a = upload(s3, "uploads/a.jpg", dog_jpg.read_bytes())
    good_b = upload(s3, "uploads/b b.jpg", dog_jpg.read_bytes())
    event = events.sqs_event([good_a, "{not json", good_b])
    bad_id = event["Records"][1]["messageId"]

    # WHEN the batch is processed
    response = uploads_handler.lambda_handler(event, lambda_context)

    # THEN only the bad message is retried, and both uploads have results
    assert response == {"batchItemFailures": [{"itemIdentifier": bad_id}]}
    assert result_of(s3, "uploads/a.jpg")["detections"]
    assert result_of(s3, "uploads/b b.jpg")["detections"]


def test_an_sqs_message_whose_results_cannot_be_written_is_the_only_failure(
    handler_env, s3, lambda_context, dog_jpg: Path
) -> None:
    # GIVEN a served bucket that does not exist: its error result cannot be written either
    handler_env.setenv("INPUT_BUCKETS", f"{BUCKET},bucket-that-does-not-exist")
    uploads_handler = fresh_module("detector.handlers.s3")
    good = upload(s3, "uploads/a.jpg", dog_jpg.read_bytes())
    lost = events.s3_notification("bucket-that-does-not-exist", "uploads/x.jpg")
    event = events.sqs_event([lost, good])

    response = uploads_handler.lambda_handler(event, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert result_of(s3, "uploads/a.jpg")["detections"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda record: record.pop("messageId"),
        lambda record: record.update(messageId=""),
        lambda record: record.update(body={"Records": []}),
        lambda record: record.pop("body"),
    ],
    ids=["no-id", "empty-id", "body-not-text", "no-body"],
)
def test_an_sqs_batch_with_a_record_sqs_would_never_send_is_refused_whole(
    uploads_handler, s3, lambda_context, dog_jpg: Path, damage
) -> None:
    # GIVEN a good upload beside a record with no id to report it by, or no body to read
    event = events.sqs_event([upload(s3, "uploads/a.jpg", dog_jpg.read_bytes())] * 2)
    damage(event["Records"][1])
    # WHEN it is processed THEN the invocation is refused before anything is written
    with pytest.raises(BadRequestError, match="SQS record without a messageId and a body"):
        uploads_handler.lambda_handler(event, lambda_context)
    assert keys(s3) == {"uploads/a.jpg"}


def test_an_sqs_test_event_from_s3_is_not_a_failure(uploads_handler, s3, lambda_context) -> None:
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": BUCKET}
    response = uploads_handler.lambda_handler(events.sqs_event([test_event]), lambda_context)

    assert response == {"batchItemFailures": []}


def test_when_the_model_cannot_load_the_whole_batch_is_retried(
    handler_env, s3, lambda_context, tmp_path: Path, dog_jpg: Path
) -> None:
    handler_env.setenv("MODEL_URI", str(tmp_path / "missing.onnx"))
    uploads_handler = fresh_module("detector.handlers.s3")
    event = events.sqs_event([upload(s3, "uploads/a.jpg", dog_jpg.read_bytes())])

    # (every message failed: the invocation fails, so Lambda counts an error and SQS
    # delivers the whole batch again)
    with pytest.raises(ModelUnavailableError):
        uploads_handler.lambda_handler(event, lambda_context)
    assert keys(s3) == {"uploads/a.jpg"}


def test_a_direct_event_processes_every_record_before_failing_for_a_bad_one(
    handler_env, s3, lambda_context, dog_jpg: Path
) -> None:
    handler_env.setenv("INPUT_BUCKETS", f"{BUCKET},bucket-that-does-not-exist")
    uploads_handler = fresh_module("detector.handlers.s3")
    good = upload(s3, "uploads/a.jpg", dog_jpg.read_bytes())
    lost = events.s3_notification("bucket-that-does-not-exist", "uploads/x.jpg")
    event = {"Records": lost["Records"] + good["Records"]}

    with pytest.raises(Exception, match="bucket-that-does-not-exist"):
        uploads_handler.lambda_handler(event, lambda_context)
    assert result_of(s3, "uploads/a.jpg")["detections"]


@pytest.mark.parametrize("results_bucket", [None, BUCKET])
def test_an_uploads_prefix_that_would_catch_our_own_outputs_is_refused(
    handler_env, s3, lambda_context, dog_jpg: Path, results_bucket: str | None
) -> None:
    handler_env.setenv("UPLOADS_PREFIX", "")
    if results_bucket:
        handler_env.setenv("RESULTS_BUCKET", results_bucket)
    uploads_handler = fresh_module("detector.handlers.s3")

    with pytest.raises(ConfigurationError, match="overlaps"):
        uploads_handler.lambda_handler(upload(s3, "a.jpg", dog_jpg.read_bytes()), lambda_context)
    assert keys(s3) == {"a.jpg"}


@pytest.mark.parametrize(
    "event",
    [{}, {"Records": []}, {"Records": [{"eventSource": "aws:sns"}]}, {"source": "aws.ec2"}],
)
def test_an_event_from_another_source_is_refused_loudly(
    uploads_handler, lambda_context, event
) -> None:
    with pytest.raises(BadRequestError, match="not an S3 notification"):
        uploads_handler.lambda_handler(event, lambda_context)


def test_a_result_file_that_is_not_ours_is_replaced(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key="detections/uploads/dog.jpg.json", Body=b"garbage")
    event = upload(s3, "uploads/dog.jpg", dog_jpg.read_bytes())

    uploads_handler.lambda_handler(event, lambda_context)

    assert result_of(s3, "uploads/dog.jpg")["detections"]
