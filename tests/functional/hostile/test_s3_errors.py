"""S3 answers nobody planned for (issue 12, class 4), through aws.py and the real handlers.

Every error S3 can give is transient (retried: a 503 through the API, a batch item failure
or a failed invocation in the upload flow) or permanent (the right 4xx through the API, an
error result file in the upload flow, or, when S3 refuses even that, one logged permanent
failure): never a 500, never a retry that cannot help, never S3's own message, never
silence. The error answers come from botocore's S3 model, S3's documented error codes,
botocore's own list of retryable codes and hypothesis; they are given by a hook on a
moto-backed client (as botocore's Stubber answers: botocore raises them as it would a
real answer), so every other call reaches moto.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import (
    ConnectTimeoutError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker
from hypothesis import given
from hypothesis import strategies as st

from detector import aws
from detector.aws import S3Location
from detector.errors import (
    DetectorError,
    StorageAccessDeniedError,
    StorageArchivedError,
    StorageError,
    StorageNotFoundError,
    StorageRefusedError,
    StorageUnavailableError,
)
from detector.local import events
from tests import tokens
from tests.functional.hostile import fuzz
from tests.lambdas import fresh_module, header, json_body, logs_to_current_stdout

BUCKET = "hostile-uploads"
INPUTS = "hostile-inputs"
# What our fake S3 says in each error: it must never reach a caller or a result file.
S3_MESSAGE = "S3-OWN-MESSAGE: internal detail about arn:aws:s3:::hostile-uploads"

# S3's documented error codes (API reference, "Error responses") with the status S3 sends
# them with, and what a caller of our API must get: the oracle for the table in aws.py.
DOCUMENTED: dict[str, tuple[int, int, str]] = {
    # permanent: a 4xx of ours, and no retry
    "AccessDenied": (403, 403, "storage_access_denied"),
    "AccountProblem": (403, 403, "storage_access_denied"),
    "AllAccessDisabled": (403, 403, "storage_access_denied"),
    "InvalidAccessKeyId": (403, 403, "storage_access_denied"),
    "SignatureDoesNotMatch": (403, 403, "storage_access_denied"),
    "KMS.DisabledException": (400, 403, "storage_access_denied"),
    "KMS.NotFoundException": (400, 403, "storage_access_denied"),
    "NoSuchKey": (404, 404, "storage_not_found"),
    "NoSuchBucket": (404, 404, "storage_not_found"),
    "NoSuchVersion": (404, 404, "storage_not_found"),
    "MethodNotAllowed": (405, 404, "storage_not_found"),  # a version that is a delete marker
    "InvalidObjectState": (403, 409, "storage_archived"),
    "ObjectNotInActiveTierError": (403, 409, "storage_archived"),
    "KeyTooLongError": (400, 400, "storage_refused"),
    "InvalidRequest": (400, 400, "storage_refused"),
    "InvalidArgument": (400, 400, "storage_refused"),
    "InvalidBucketName": (400, 400, "storage_refused"),
    "InvalidURI": (400, 400, "storage_refused"),
    "InvalidRange": (416, 400, "storage_refused"),
    "InvalidStorageClass": (400, 400, "storage_refused"),
    "InvalidDigest": (400, 400, "storage_refused"),
    "EntityTooLarge": (400, 400, "storage_refused"),
    "MetadataTooLarge": (400, 400, "storage_refused"),
    "MalformedXML": (400, 400, "storage_refused"),
    "MissingContentLength": (411, 400, "storage_refused"),
    "PreconditionFailed": (412, 400, "storage_refused"),
    "PermanentRedirect": (301, 400, "storage_refused"),
    "AuthorizationHeaderMalformed": (400, 400, "storage_refused"),
    "NotImplemented": (501, 400, "storage_refused"),
    # transient: a 503 to retry, a retry in the upload flow
    "InternalError": (500, 503, "storage_unavailable"),
    "ServiceUnavailable": (503, 503, "storage_unavailable"),
    "SlowDown": (503, 503, "storage_unavailable"),
    "RequestTimeout": (400, 503, "storage_unavailable"),
    "OperationAborted": (409, 503, "storage_unavailable"),
    "RequestTimeTooSkewed": (403, 503, "storage_unavailable"),
    "ExpiredToken": (400, 503, "storage_unavailable"),
    "BadDigest": (400, 503, "storage_unavailable"),
    "IncompleteBody": (400, 503, "storage_unavailable"),
    "KMS.ThrottlingException": (400, 503, "storage_unavailable"),
    "SomethingNewOnS3sSide": (500, 503, "storage_unavailable"),  # unlisted 5xx: transient
    "SomethingNewOnOurSide": (400, 400, "storage_refused"),  # unlisted 4xx: permanent
    "SomethingNewAndForbidden": (403, 403, "storage_access_denied"),
    "SomethingNewAndGone": (404, 404, "storage_not_found"),
    "SomethingNewAndThrottled": (429, 503, "storage_unavailable"),
}
API_CODES = {
    StorageNotFoundError: (404, "storage_not_found"),
    StorageAccessDeniedError: (403, "storage_access_denied"),
    StorageArchivedError: (409, "storage_archived"),
    StorageRefusedError: (400, "storage_refused"),
    StorageUnavailableError: (503, "storage_unavailable"),
}


def modelled_s3_errors() -> dict[str, int]:
    """Every error shape of botocore's S3 model, with its modelled HTTP status."""
    model = botocore.session.get_session().get_service_model("s3")
    return {shape.name: shape.metadata["error"]["httpStatusCode"] for shape in model.error_shapes}


def botocore_retryable_codes() -> list[str]:
    """The codes botocore's standard retry mode retries (throttling and transient)."""
    return [
        *ThrottledRetryableChecker._THROTTLED_ERROR_CODES,
        *TransientRetryableChecker._TRANSIENT_ERROR_CODES,
    ]


def fail(client: Any, operation: str, key: str, code: str, status: int) -> None:
    """From now on, ``operation`` on ``key`` gets S3's error ``code`` with ``status``; other
    calls reach the client's endpoint (moto). A later ``fail`` on the same call wins."""

    def remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["hostile_key"] = params.get("Key")

    def answer(context: dict[str, Any], **_: Any) -> Any:
        if context.get("hostile_key") != key:
            return None
        parsed = {
            "Error": {"Code": code, "Message": S3_MESSAGE},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        return AWSResponse("https://s3.amazonaws.com/", status, {}, None), parsed

    events = client.meta.events
    for event, handler in (("before-parameter-build", remember), ("before-call", answer)):
        name, unique_id = f"{event}.s3.{operation}", f"hostile-{event}-{key}"
        events.unregister(name, unique_id=unique_id)
        events.register_first(name, handler, unique_id=unique_id)


def log_lines(output: str) -> list[dict[str, Any]]:
    """The function's structured log lines that report an outcome."""
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [line for line in lines if "outcome" in line]


# --- the classification, call by call ------------------------------------------------------
@pytest.fixture
def s3(aws: None) -> Any:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="uploads/a.jpg", Body=b"x")
    return client


def outcome_of(s3: Any, operation: str, code: str, status: int) -> StorageError:
    """THEN the call raises one of our typed storage errors, in our own words."""
    location = S3Location(BUCKET, "uploads/a.jpg")
    fail(s3, operation, location.key, code, status)
    with pytest.raises(StorageError) as raised:
        if operation == "GetObject":
            aws.get_object(s3, location)
        elif operation == "HeadObject":
            aws.head_object(s3, location)
        else:
            aws.put_object(s3, location, b"y")
    error = raised.value
    assert type(error) in API_CODES, f"{code} {status}: a bare {type(error).__name__}"
    assert S3_MESSAGE not in error.message and "S3-OWN" not in error.message
    assert f"s3://{BUCKET}/uploads/a.jpg" in error.message
    return error


@pytest.mark.parametrize("operation", ["GetObject", "HeadObject", "PutObject"])
def test_every_documented_s3_error_gets_the_documented_verdict(s3, operation: str) -> None:
    for code, (status, api_status, api_code) in DOCUMENTED.items():
        error = outcome_of(s3, operation, code, status)
        assert API_CODES[type(error)] == (api_status, api_code), code
        assert aws.is_transient(error) == (api_status == 503), code


def test_every_error_in_botocores_s3_model_is_permanent_and_typed(s3) -> None:
    errors = modelled_s3_errors()
    assert len(errors) >= 20  # the model was read
    for code, status in errors.items():
        error = outcome_of(s3, "GetObject", code, status)
        assert not aws.is_transient(error), code


@pytest.mark.parametrize("status", [400, 429, 503])
def test_every_code_botocore_retries_is_transient(s3, status: int) -> None:
    for code in botocore_retryable_codes():
        error = outcome_of(s3, "GetObject", code, status)
        assert isinstance(error, StorageUnavailableError), code
        assert "retry later" in error.message


def test_any_code_and_status_is_typed_and_judged_by_its_status_when_unlisted(s3) -> None:
    listed = set(DOCUMENTED) | set(modelled_s3_errors()) | set(botocore_retryable_codes())
    # "Zz...": no code S3 or botocore has; judged by the status alone
    unlisted = st.text(alphabet="abcdefXYZ0123456789", max_size=20).map(lambda tail: "Zz" + tail)

    @fuzz(300)
    @given(
        code=unlisted | st.sampled_from(sorted(listed)) | st.text(max_size=300),
        status=st.integers(300, 599),
    )
    def check(code: str, status: int) -> None:
        error = outcome_of(s3, "GetObject", code, status)
        if code.startswith("Zz"):
            verdict = status >= 500 or status in (408, 429) or status < 400
            assert aws.is_transient(error) == verdict, (code, status)
        assert len(error.message) < 300  # a code is repeated only when it is short

    check()


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (EndpointConnectionError(endpoint_url="https://s3.amazonaws.com"), True),
        (ConnectTimeoutError(endpoint_url="https://s3.amazonaws.com"), True),
        (ReadTimeoutError(endpoint_url="https://s3.amazonaws.com"), True),
        (ResponseStreamingError(error="connection reset"), True),
        (ParamValidationError(report="Invalid bucket name"), False),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_botocores_own_failures_are_judged_too(error: Any, transient: bool) -> None:
    assert aws.is_transient(error) == transient


def test_a_key_over_s3s_limit_is_refused_before_asking(s3) -> None:
    # GIVEN a key of 1025 bytes (moto would accept it; S3 answers KeyTooLongError)
    location = S3Location(BUCKET, "k" * 1025)
    for call in (
        lambda: aws.get_object(s3, location),
        lambda: aws.put_object(s3, location, b"x"),
    ):
        with pytest.raises(StorageRefusedError, match="1025 bytes, over S3's limit") as raised:
            call()
        assert not aws.is_transient(raised.value)
    # AND one of 1024 bytes is S3's to judge
    aws.put_object(s3, S3Location(BUCKET, "é" * 512), b"x")


# --- through the API handler: the right 4xx, or 503 -------------------------------------------
@pytest.fixture
def api(handler_env: pytest.MonkeyPatch) -> ModuleType:
    handler_env.setenv("INPUT_BUCKETS", INPUTS)
    boto3.client("s3").create_bucket(Bucket=INPUTS)
    return fresh_module("detector.handlers.api")


def detect_by_reference(api: ModuleType, context: Any, key: str, **extra: Any) -> dict[str, Any]:
    body = json.dumps({"s3": {"bucket": INPUTS, "key": key, **extra}})
    event = events.api_event(
        "http",
        "POST",
        "/detect",
        body=body.encode(),
        content_type="application/json",
        token=tokens.hs256(),
    )
    response: dict[str, Any] = api.lambda_handler(event, context)
    return response


def test_the_api_answers_each_s3_error_with_its_status_and_our_message(api, lambda_context):
    for index, (code, (status, api_status, api_code)) in enumerate(DOCUMENTED.items()):
        # GIVEN S3 answers the image's GetObject with this error
        key = f"photos/{index}.jpg"
        fail(api.clients.s3, "GetObject", key, code, status)
        # WHEN the image is asked for by reference
        response = detect_by_reference(api, lambda_context, key)
        # THEN the documented status and code, our message naming the object, not S3's
        assert response["statusCode"] == api_status, (code, response["body"])
        body = json_body(response)
        assert body["error"]["code"] == api_code
        assert f"s3://{INPUTS}/{key}" in body["error"]["message"]
        assert "S3-OWN" not in response["body"]
        assert (header(response, "Retry-After") == "5") == (api_status == 503)


def test_an_archived_image_is_a_409_to_restore_it(api, lambda_context, dog_jpg: Path) -> None:
    # GIVEN an image in the GLACIER storage class (moto answers InvalidObjectState, as S3)
    s3 = boto3.client("s3")
    s3.put_object(
        Bucket=INPUTS, Key="old/dog.jpg", Body=dog_jpg.read_bytes(), StorageClass="GLACIER"
    )

    response = detect_by_reference(api, lambda_context, "old/dog.jpg")

    assert response["statusCode"] == 409
    error = json_body(response)["error"]
    assert error["code"] == "storage_archived" and "restore it first" in error["message"]


def test_a_key_over_s3s_limit_is_a_400_with_a_short_message(api, lambda_context) -> None:
    response = detect_by_reference(api, lambda_context, "k" * 100_000)

    # THEN the request is refused before S3 is asked: the key breaks the request grammar
    assert response["statusCode"] == 400
    error = json_body(response)["error"]
    assert error["code"] == "bad_request"
    assert "1024 bytes" in error["message"]
    assert len(response["body"]) < 1000  # the key is not echoed in full


# --- through the S3 handler: error results, retries, one log line each -----------------------
@pytest.fixture
def uploads(handler_env: pytest.MonkeyPatch) -> tuple[ModuleType, Any]:
    """The S3 handler on moto."""
    handler_env.setenv("INPUT_BUCKETS", BUCKET)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    return fresh_module("detector.handlers.s3"), s3


def handled(handler: ModuleType, event: dict[str, Any], context: Any) -> Any:
    """The handler's answer; its log lines go to this test's stdout (capsys)."""
    with logs_to_current_stdout():
        return handler.lambda_handler(event, context)


def retried_messages(handler: ModuleType, batch: dict[str, Any], context: Any) -> set[str]:
    """The ids of the SQS messages to be delivered again: those in batchItemFailures, or
    all of them when every one failed (then the invocation itself fails)."""
    try:
        response = handled(handler, batch, context)
    except DetectorError:
        return {record["messageId"] for record in batch["Records"]}
    return {item["itemIdentifier"] for item in response["batchItemFailures"]}


def uploaded(s3: Any, key: str, body: bytes, **put: Any) -> dict[str, Any]:
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=body, **put)
    return events.s3_notification(BUCKET, key, size=len(body), etag=response["ETag"].strip('"'))


def result(s3: Any, key: str) -> Any:
    try:
        body = s3.get_object(Bucket=BUCKET, Key=f"detections/{key}.json")["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    document: dict[str, Any] = json.loads(body)
    return document


def test_an_sqs_batch_retries_exactly_the_transient_s3_errors(
    uploads, lambda_context, capsys, dog_jpg: Path
) -> None:
    handler, s3 = uploads
    corpus = list(DOCUMENTED.items())
    for start in range(0, len(corpus), 10):  # SQS hands over at most 10 messages at once
        # GIVEN ten uploads, each of whose reads S3 answers with another error
        chunk = corpus[start : start + 10]
        notifications = []
        for code, (status, _, _) in chunk:
            key = f"uploads/{code}.jpg"
            notifications.append(uploaded(s3, key, dog_jpg.read_bytes()))
            fail(handler.clients.s3, "GetObject", key, code, status)
        batch = events.sqs_event(notifications)
        capsys.readouterr()

        # WHEN the batch is processed
        retried = retried_messages(handler, batch, lambda_context)

        # THEN exactly the transient ones are retried, the others have an error result
        lines = log_lines(capsys.readouterr().out)
        for record, (code, (_, api_status, api_code)) in zip(batch["Records"], chunk, strict=True):
            key = f"uploads/{code}.jpg"
            document = result(s3, key)
            if api_status == 503:
                assert record["messageId"] in retried, code
                assert document is None, code
            else:
                assert record["messageId"] not in retried, code
                assert document is not None and document["error"]["code"] == api_code, code
                assert "S3-OWN" not in json.dumps(document)
            # AND each upload logged exactly one line saying what became of it
            [line] = [line for line in lines if line.get("key") == key]
            assert line["outcome"] == ("retry" if api_status == 503 else "failed"), code


@pytest.mark.parametrize("via", ["direct", "eventbridge"])
def test_a_direct_or_eventbridge_event_fails_only_for_a_transient_error(
    uploads, lambda_context, capsys, dog_jpg: Path, via: str
) -> None:
    handler, s3 = uploads
    notifications = {
        "uploads/archived.jpg": uploaded(
            s3, "uploads/archived.jpg", dog_jpg.read_bytes(), StorageClass="GLACIER"
        ),
        "uploads/throttled.jpg": uploaded(s3, "uploads/throttled.jpg", dog_jpg.read_bytes()),
    }
    fail(handler.clients.s3, "GetObject", "uploads/throttled.jpg", "SlowDown", 503)

    def event(key: str) -> dict[str, Any]:
        return notifications[key] if via == "direct" else events.eventbridge_event(BUCKET, key)

    # an archived upload (moto's own InvalidObjectState): an error result, no retry
    response = handled(handler, event("uploads/archived.jpg"), lambda_context)
    assert response == {"processed": ["failed"]}
    assert result(s3, "uploads/archived.jpg")["error"]["code"] == "storage_archived"
    # a throttled one: the invocation fails, for Lambda to retry it
    with pytest.raises(StorageUnavailableError):
        handled(handler, event("uploads/throttled.jpg"), lambda_context)
    assert result(s3, "uploads/throttled.jpg") is None
    outcomes = [line["outcome"] for line in log_lines(capsys.readouterr().out)]
    assert outcomes == ["failed", "retry"]


def test_an_upload_whose_result_key_s3_refuses_is_abandoned_once_not_retried(
    uploads, lambda_context, capsys, dog_jpg: Path
) -> None:
    handler, s3 = uploads
    # GIVEN an upload whose key S3 accepts, but whose result key is over 1024 bytes
    key = "uploads/" + "k" * (1024 - len("uploads/"))
    batch = events.sqs_event([uploaded(s3, key, dog_jpg.read_bytes())])
    capsys.readouterr()

    response = handled(handler, batch, lambda_context)

    # THEN no retry, nothing written, one error line that says so
    assert response == {"batchItemFailures": []}
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [key]
    [line] = log_lines(capsys.readouterr().out)
    assert line["outcome"] == "abandoned" and line["level"] == "ERROR"
    assert "over S3's limit" in line["reason"]


@pytest.mark.parametrize(
    ("code", "status", "retried"),
    [("KeyTooLongError", 400, False), ("AccessDenied", 403, True), ("SlowDown", 503, True)],
)
def test_a_result_s3_will_not_store_is_abandoned_or_retried_by_why(
    uploads, lambda_context, capsys, dog_jpg: Path, code: str, status: int, retried: bool
) -> None:
    handler, s3 = uploads
    # GIVEN S3 answers the result's PutObject with this error
    batch = events.sqs_event([uploaded(s3, "uploads/dog.jpg", dog_jpg.read_bytes())])
    fail(handler.clients.s3, "PutObject", "detections/uploads/dog.jpg.json", code, status)
    capsys.readouterr()

    again = retried_messages(handler, batch, lambda_context)

    # THEN refused for good: abandoned; our role denied, or S3 busy: retried (the DLQ keeps it)
    assert bool(again) == retried
    [line] = log_lines(capsys.readouterr().out)
    assert line["outcome"] == ("retry" if retried else "abandoned")


def test_an_annotated_key_s3_refuses_gives_an_error_result(
    handler_env, uploads, lambda_context, dog_jpg: Path
) -> None:
    _, s3 = uploads
    # GIVEN a long annotated prefix: for this key the drawing's key is over 1024 bytes,
    # the result's is not
    handler_env.setenv("ANNOTATE", "true")
    handler_env.setenv("ANNOTATED_PREFIX", "annotated-images-of-the-detector/")
    handler = fresh_module("detector.handlers.s3")
    key = "uploads/" + "k" * (1024 - len("detections/") - len(".json") - len("uploads/"))

    handled(handler, uploaded(s3, key, dog_jpg.read_bytes()), lambda_context)

    document = result(s3, key)
    assert document is not None and document["error"]["code"] == "storage_refused"


def test_an_earlier_result_moved_to_an_archive_tier_is_replaced(
    uploads, lambda_context, dog_jpg: Path
) -> None:
    handler, s3 = uploads
    s3.put_object(
        Bucket=BUCKET, Key="detections/uploads/dog.jpg.json", Body=b"{}", StorageClass="GLACIER"
    )

    handled(handler, uploaded(s3, "uploads/dog.jpg", dog_jpg.read_bytes()), lambda_context)

    assert "dog" in {d["label"] for d in result(s3, "uploads/dog.jpg")["detections"]}
