"""The upload handler as an S3 Batch Operations target, end to end through moto S3.

Both invocation schemas, as AWS documents them (1.0: ``s3BucketArn``; 2.0: ``s3Bucket`` and
``job.userArguments``), through ``detector.handlers.s3.lambda_handler`` with the real model.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import quote_plus

import boto3
import pytest
from botocore.stub import ANY, Stubber
from PIL import Image

from detector.aws import AwsClients
from detector.errors import BadRequestError
from detector.local import events
from detector.service.batch_operations import encode_key
from tests.functional.conftest import UPLOADS_BUCKET
from tests.lambdas import fresh_module

BUCKET = UPLOADS_BUCKET
ELSEWHERE = "someone-elses-bucket"
SCHEMAS = ["1.0", "2.0"]


def invoke(
    handler: ModuleType, context: Any, key: str, *, bucket: str = BUCKET, **event: Any
) -> dict[str, Any]:
    """One task through the handler; its single result."""
    request = events.batch_operations_event(bucket, key, **event)
    response = handler.lambda_handler(request, context)
    assert response["invocationId"] == request["invocationId"]
    assert response["invocationSchemaVersion"] == request["invocationSchemaVersion"]
    assert response["treatMissingKeysAs"] == "PermanentFailure"
    [result] = response["results"]
    assert result["taskId"] == request["tasks"][0]["taskId"]
    return dict(result)


def document(s3: Any, key: str, bucket: str = BUCKET) -> dict[str, Any]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    parsed: dict[str, Any] = json.loads(body)
    return parsed


def keys(s3: Any, bucket: str = BUCKET) -> set[str]:
    return {item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])}


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize(
    "key",
    [
        "uploads/dog.jpg",
        "archive/2019/street photos/dog bike.jpg",
        "archive/c++ dog+1.jpg",
        "archive/100% dog=1&b;c,d.jpg",
        "archive/hünd/狗 🐕.jpg",
    ],
    ids=["uploads", "spaces", "plus", "reserved", "unicode"],
)
def test_a_task_writes_the_upload_flows_result_document_whatever_the_key(
    uploads_handler, s3, lambda_context, dog_jpg: Path, schema: str, key: str
) -> None:
    # GIVEN a photo already in the bucket, under any prefix
    s3.put_object(Bucket=BUCKET, Key=key, Body=dog_jpg.read_bytes())

    # WHEN a Batch Operations job names it
    result = invoke(uploads_handler, lambda_context, key, schema=schema)

    # THEN it succeeded, and the report points at the result document beside the upload's
    result_key = f"detections/{key}.json"
    assert result == {
        "taskId": result["taskId"],
        "resultCode": "Succeeded",
        "resultString": f"s3://{BUCKET}/{result_key}",
    }
    written = document(s3, result_key)
    assert written["source"]["bucket"] == BUCKET
    assert written["source"]["key"] == key
    assert {"dog", "bicycle"} <= {d["label"] for d in written["detections"]}


@pytest.mark.parametrize("encode", [encode_key, quote_plus], ids=["percent", "plus"])
def test_keys_encoded_either_way_name_the_same_object(
    uploads_handler, s3, lambda_context, dog_jpg: Path, encode: Any
) -> None:
    key = "archive/a b+c.jpg"
    s3.put_object(Bucket=BUCKET, Key=key, Body=dog_jpg.read_bytes())
    event = events.batch_operations_event(BUCKET, key)
    event["tasks"][0]["s3Key"] = encode(key)

    [result] = uploads_handler.lambda_handler(event, lambda_context)["results"]

    assert result["resultCode"] == "Succeeded"
    assert result["resultString"] == f"s3://{BUCKET}/detections/{key}.json"


def test_a_backfill_rewrites_what_the_upload_flow_wrote_and_nothing_else(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    # GIVEN an upload the S3 notification flow has processed
    body = dog_jpg.read_bytes()
    etag = s3.put_object(Bucket=BUCKET, Key="uploads/dog.jpg", Body=body)["ETag"].strip('"')
    notification = events.s3_notification(BUCKET, "uploads/dog.jpg", size=len(body), etag=etag)
    uploads_handler.lambda_handler(notification, lambda_context)
    before = keys(s3)
    first = document(s3, "detections/uploads/dog.jpg.json")

    # WHEN a backfill names it, twice
    invoke(uploads_handler, lambda_context, "uploads/dog.jpg")
    invoke(uploads_handler, lambda_context, "uploads/dog.jpg")

    # THEN the same document was rewritten with the same detections
    assert keys(s3) == before
    again = document(s3, "detections/uploads/dog.jpg.json")
    assert again["detections"] == first["detections"]
    assert again["source"]["etag"] == first["source"]["etag"] == etag


def test_a_versioned_task_describes_the_version_it_names(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    photo = s3.put_object(Bucket=BUCKET, Key="a/pic.jpg", Body=dog_jpg.read_bytes())
    s3.put_object(Bucket=BUCKET, Key="a/pic.jpg", Body=b"now a text file")

    result = invoke(uploads_handler, lambda_context, "a/pic.jpg", version_id=photo["VersionId"])

    assert result["resultCode"] == "Succeeded"
    written = document(s3, "detections/a/pic.jpg.json")
    assert written["source"]["version_id"] == photo["VersionId"]
    assert "dog" in {d["label"] for d in written["detections"]}


# --- permanent failures ------------------------------------------------------------------------
@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_missing_object_is_a_permanent_failure_with_an_error_document(
    uploads_handler, s3, lambda_context, schema: str
) -> None:
    result = invoke(uploads_handler, lambda_context, "archive/gone.jpg", schema=schema)

    result_key = "detections/archive/gone.jpg.json"
    assert result["resultCode"] == "PermanentFailure"
    assert result["resultString"] == f"storage_not_found: error document s3://{BUCKET}/{result_key}"
    assert document(s3, result_key)["error"]["code"] == "storage_not_found"


@pytest.mark.parametrize("schema", SCHEMAS)
def test_a_non_image_is_a_permanent_failure_with_an_error_document(
    uploads_handler, s3, lambda_context, schema: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key="archive/notes.txt", Body=b"these are not pixels")

    result = invoke(uploads_handler, lambda_context, "archive/notes.txt", schema=schema)

    assert result["resultCode"] == "PermanentFailure"
    assert result["resultString"].startswith("invalid_image: error document s3://")
    written = document(s3, "detections/archive/notes.txt.json")
    assert written["error"]["code"] == "invalid_image"
    assert "detections" not in written


@pytest.mark.parametrize("schema", SCHEMAS)
def test_an_object_in_a_bucket_the_function_does_not_serve_is_refused_untouched(
    uploads_handler, s3, lambda_context, dog_jpg: Path, schema: str
) -> None:
    s3.create_bucket(Bucket=ELSEWHERE)
    s3.put_object(Bucket=ELSEWHERE, Key="dog.jpg", Body=dog_jpg.read_bytes())

    result = invoke(uploads_handler, lambda_context, "dog.jpg", bucket=ELSEWHERE, schema=schema)

    assert result["resultCode"] == "PermanentFailure"
    assert result["resultString"] == "refused: the bucket is not in INPUT_BUCKETS"
    assert keys(s3, ELSEWHERE) == {"dog.jpg"}
    assert keys(s3) == set()


@pytest.mark.parametrize(
    "key", ["detections/uploads/dog.jpg.json", "annotated/uploads/dog.jpg.jpg", "archive/"]
)
def test_our_own_outputs_and_folder_markers_are_skipped_not_processed(
    uploads_handler, s3, lambda_context, key: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")

    result = invoke(uploads_handler, lambda_context, key)

    assert result["resultCode"] == "Succeeded"
    assert result["resultString"].startswith("skipped: ")
    assert keys(s3) == {key}


# --- the job's options (schema 2.0 userArguments) ------------------------------------------------
def test_user_arguments_choose_the_detection_options(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key="a/dog.jpg", Body=dog_jpg.read_bytes())

    invoke(uploads_handler, lambda_context, "a/dog.jpg")
    default = document(s3, "detections/a/dog.jpg.json")["detections"]
    invoke(
        uploads_handler,
        lambda_context,
        "a/dog.jpg",
        user_arguments={"classes": "dog", "conf": "0.5"},
    )
    chosen = document(s3, "detections/a/dog.jpg.json")["detections"]

    assert len({d["label"] for d in default}) > 1
    assert [d["label"] for d in chosen] == ["dog"]
    assert all(d["score"] >= 0.5 for d in chosen)


def test_annotate_in_user_arguments_writes_the_drawing(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key="a/dog.jpg", Body=dog_jpg.read_bytes())

    invoke(uploads_handler, lambda_context, "a/dog.jpg", user_arguments={"annotate": "true"})

    drawn = s3.get_object(Bucket=BUCKET, Key="annotated/a/dog.jpg.jpg")["Body"].read()
    with Image.open(io.BytesIO(drawn)) as image:
        assert image.format == "JPEG"
    written = document(s3, "detections/a/dog.jpg.json")
    assert written["annotated"] == {"bucket": BUCKET, "key": "annotated/a/dog.jpg.jpg"}


def test_annotate_false_in_user_arguments_wins_over_the_functions_setting(
    handler_env, s3, lambda_context, dog_jpg: Path
) -> None:
    handler_env.setenv("ANNOTATE", "true")
    uploads_handler = fresh_module("detector.handlers.s3")
    s3.put_object(Bucket=BUCKET, Key="a/dog.jpg", Body=dog_jpg.read_bytes())

    invoke(uploads_handler, lambda_context, "a/dog.jpg", user_arguments={"annotate": "false"})
    assert keys(s3) == {"a/dog.jpg", "detections/a/dog.jpg.json"}
    invoke(uploads_handler, lambda_context, "a/dog.jpg")
    assert "annotated/a/dog.jpg.jpg" in keys(s3)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"conf": "lots"}, "option conf"),
        ({"max_det": "1e3"}, "option max_det"),
        ({"colour": "red"}, "unknown option"),
        ({"classes": "dog,unicorn"}, "no class named 'unicorn'"),
    ],
)
def test_wrong_user_arguments_fail_every_task_permanently_and_write_nothing(
    uploads_handler, s3, lambda_context, dog_jpg: Path, arguments: dict[str, str], message: str
) -> None:
    s3.put_object(Bucket=BUCKET, Key="a/dog.jpg", Body=dog_jpg.read_bytes())

    result = invoke(uploads_handler, lambda_context, "a/dog.jpg", user_arguments=arguments)

    assert result["resultCode"] == "PermanentFailure"
    assert result["resultString"].startswith("bad_request: ")
    assert message in result["resultString"]
    assert keys(s3) == {"a/dog.jpg"}


# --- temporary failures --------------------------------------------------------------------------
def test_a_model_that_cannot_load_yet_is_a_temporary_failure(
    handler_env, s3, lambda_context, tmp_path: Path, dog_jpg: Path
) -> None:
    handler_env.setenv("MODEL_URI", str(tmp_path / "missing.onnx"))
    uploads_handler = fresh_module("detector.handlers.s3")
    s3.put_object(Bucket=BUCKET, Key="a/dog.jpg", Body=dog_jpg.read_bytes())

    result = invoke(uploads_handler, lambda_context, "a/dog.jpg")

    assert result["resultCode"] == "TemporaryFailure"
    assert result["resultString"].startswith("model_unavailable: ")
    assert keys(s3) == {"a/dog.jpg"}


@pytest.mark.parametrize(
    ("code", "status", "result_code", "result"),
    [
        ("SlowDown", 503, "TemporaryFailure", "storage_unavailable: "),
        ("InternalError", 500, "TemporaryFailure", "storage_unavailable: "),
        ("ServiceUnavailable", 503, "TemporaryFailure", "storage_unavailable: "),
        # in GLACIER: restore it first; an error document says so
        ("InvalidObjectState", 403, "PermanentFailure", "storage_archived: error document "),
        # a bucket in another region
        ("PermanentRedirect", 301, "PermanentFailure", "storage_refused: error document "),
    ],
)
def test_what_s3_answers_decides_whether_the_task_is_retried(
    uploads_handler, lambda_context, code: str, status: int, result_code: str, result: str
) -> None:
    # GIVEN S3 answers the read of the image with this error
    client = boto3.client("s3")
    stubber = Stubber(client)
    stubber.add_client_error("get_object", code, http_status_code=status)
    if result_code == "PermanentFailure":
        error_document = {"Bucket": BUCKET, "Key": "detections/a/dog.jpg.json"}
        stubber.add_response("put_object", {"ETag": '"0"'}, {**error_document, **_ANY_BODY})
    uploads_handler.clients = AwsClients(s3=client)

    with stubber:
        answer = invoke(uploads_handler, lambda_context, "a/dog.jpg")
    stubber.assert_no_pending_responses()

    assert answer["resultCode"] == result_code
    assert answer["resultString"].startswith(result)


_ANY_BODY = {"Body": ANY, "ContentType": "application/json", "Metadata": {}}


# --- the event itself ----------------------------------------------------------------------------
def test_every_task_of_an_invocation_gets_its_own_result(
    uploads_handler, s3, lambda_context, dog_jpg: Path
) -> None:
    s3.put_object(Bucket=BUCKET, Key="a/dog.jpg", Body=dog_jpg.read_bytes())
    event = events.batch_operations_event(BUCKET, "a/dog.jpg")
    missing = events.batch_operations_event(BUCKET, "a/missing.jpg")["tasks"][0]
    event["tasks"].append(missing)

    results = uploads_handler.lambda_handler(event, lambda_context)["results"]

    assert [(r["taskId"], r["resultCode"]) for r in results] == [
        (event["tasks"][0]["taskId"], "Succeeded"),
        (missing["taskId"], "PermanentFailure"),
    ]


@pytest.mark.parametrize(
    "change",
    [
        {"invocationSchemaVersion": "3.0"},
        {"invocationId": None},
        {"tasks": []},
        {"tasks": ["a/dog.jpg"]},
    ],
)
def test_a_malformed_batch_operations_event_is_refused_loudly(
    uploads_handler, lambda_context, change: dict[str, Any]
) -> None:
    event = {**events.batch_operations_event(BUCKET, "a/dog.jpg"), **change}

    with pytest.raises(BadRequestError):
        uploads_handler.lambda_handler(event, lambda_context)


@pytest.mark.parametrize(
    "task",
    [{"taskId": "t", "s3Bucket": BUCKET}, {"taskId": "t", "s3Key": "", "s3Bucket": BUCKET}],
    ids=["no-key", "empty-key"],
)
def test_a_malformed_task_is_that_tasks_permanent_failure(
    uploads_handler, lambda_context, task: dict[str, Any]
) -> None:
    event = events.batch_operations_event(BUCKET, "a/dog.jpg")
    event["tasks"] = [task]

    [result] = uploads_handler.lambda_handler(event, lambda_context)["results"]

    assert result["taskId"] == "t"
    assert result["resultCode"] == "PermanentFailure"
    assert result["resultString"].startswith("bad_request: ")
