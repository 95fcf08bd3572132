"""Where results go, and whose uploads are processed (issue 12, class 5).

No two uploads share a result path, whatever their buckets and keys and however the
prefixes and the results bucket are set; and an event naming a bucket outside
INPUT_BUCKETS is refused through every path (direct, SQS, EventBridge): logged, nothing
read or written, no retry. Derandomised hypothesis tests with the example counts written
here, so a failure reproduces anywhere.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from detector.aws import S3Location
from detector.errors import ConfigurationError
from detector.local import events
from detector.service.uploads import (
    Upload,
    annotated_location,
    check_layout,
    result_location,
    skip_reason,
)
from detector.settings import Settings
from tests.functional.hostile import fuzz
from tests.lambdas import fresh_module, logs_to_current_stdout

SERVED = ("photos-a", "photos-b")
RESULTS = "detector-results"
# S3's rules for bucket names: 3 to 63 lowercase letters, digits, dots and hyphens.
BUCKET_NAMES = st.from_regex(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", fullmatch=True)
KEY_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40)


@st.composite
def sources(draw: st.DrawFn, uploads_prefix: str) -> tuple[str, str]:
    """A (bucket, key) under the uploads prefix; keys often start with a bucket's name,
    the shape that made results of different buckets meet."""
    bucket = draw(st.sampled_from([*SERVED, RESULTS, "uploads"]) | BUCKET_NAMES)
    inner = draw(st.sampled_from([*SERVED, RESULTS, "uploads", "detections"]) | KEY_TEXT)
    tail = draw(KEY_TEXT)
    key = draw(st.sampled_from([f"{uploads_prefix}{inner}/{tail}", f"{uploads_prefix}{tail}"]))
    return bucket, key


LAYOUTS = st.fixed_dictionaries(
    {
        "uploads_prefix": st.sampled_from(["uploads/", "up", "", "a/b/", "photos-a/"]),
        "results_prefix": st.sampled_from(["detections/", "d", "photos-a/", "r/"]),
        "annotated_prefix": st.sampled_from(["annotated/", "a", "photos-b/"]),
        "results_bucket": st.sampled_from([None, RESULTS, SERVED[0], "uploads"]),
    }
)


def test_no_two_uploads_share_a_result_or_a_drawing_whatever_the_layout() -> None:
    @fuzz(300)
    @given(layout=LAYOUTS, data=st.data())
    def check(layout: dict[str, Any], data: st.DataObject) -> None:
        settings = Settings(**layout)
        # GIVEN a layout the function accepts, and uploads to any buckets under any keys
        try:
            check_layout(settings)
        except ConfigurationError:
            assume(False)
        pairs = data.draw(st.lists(sources(settings.uploads_prefix), min_size=2, max_size=6))
        uploads = [Upload(S3Location(bucket, key)) for bucket, key in dict.fromkeys(pairs)]
        for upload in uploads:  # a source bucket the results share must pass check_layout
            try:
                check_layout(settings, upload.location.bucket)
            except ConfigurationError:
                assume(False)
        # THEN every upload has its own result and drawing, none the same as another's
        outputs = [result_location(u, settings) for u in uploads]
        outputs += [annotated_location(u, settings) for u in uploads]
        assert len(set(outputs)) == len(outputs), outputs
        # AND no output lands under the uploads prefix of a bucket with uploads (no loop)
        for output in outputs:
            if any(u.location.bucket == output.bucket for u in uploads):
                assert not output.key.startswith(settings.uploads_prefix), output
                assert skip_reason(Upload(output), settings) == "one of our own outputs"

    check()


def test_with_a_results_bucket_the_path_starts_with_the_source_bucket() -> None:
    settings = Settings(results_bucket=RESULTS)
    for bucket in SERVED:
        upload = Upload(S3Location(bucket, "uploads/x.jpg"))
        assert result_location(upload, settings) == S3Location(
            RESULTS, f"detections/{bucket}/uploads/x.jpg.json"
        )
        assert annotated_location(upload, settings) == S3Location(
            RESULTS, f"annotated/{bucket}/uploads/x.jpg.jpg"
        )


# --- through the S3 handler ------------------------------------------------------------------
@pytest.fixture
def s3(handler_env: pytest.MonkeyPatch) -> Any:
    client = boto3.client("s3")
    for bucket in (*SERVED, RESULTS):
        client.create_bucket(Bucket=bucket)
    handler_env.setenv("INPUT_BUCKETS", ",".join(SERVED))
    handler_env.setenv("RESULTS_BUCKET", RESULTS)
    return client


@pytest.fixture
def handler(s3: Any) -> ModuleType:
    return fresh_module("detector.handlers.s3")


def everything(s3: Any) -> dict[str, bytes]:
    """Every object of every bucket, with its bytes."""
    found = {}
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"]):
        for item in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found[f"{bucket}/{item['Key']}"] = body
    return found


def count_calls(client: Any) -> list[str]:
    """The names of the S3 operations ``client`` makes from now on."""
    calls: list[str] = []
    client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    return calls


def test_the_same_key_in_two_buckets_gets_two_results(
    handler, s3, lambda_context, dog_jpg: Path
) -> None:
    # GIVEN uploads/x.jpg in both served buckets: a photo in one, text in the other
    s3.put_object(Bucket=SERVED[0], Key="uploads/x.jpg", Body=dog_jpg.read_bytes())
    s3.put_object(Bucket=SERVED[1], Key="uploads/x.jpg", Body=b"not a picture")
    batch = events.sqs_event([events.s3_notification(b, "uploads/x.jpg") for b in SERVED])

    # WHEN both are processed in one batch
    assert handler.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}

    # THEN each has its own result, describing its own upload
    for bucket, outcome in zip(SERVED, ("detections", "error"), strict=True):
        key = f"detections/{bucket}/uploads/x.jpg.json"
        document = json.loads(s3.get_object(Bucket=RESULTS, Key=key)["Body"].read())
        assert document["source"]["bucket"] == bucket
        assert outcome in document


EVENT_SHAPES = ["direct", "sqs", "eventbridge"]


def event_for(bucket: str, key: str, shape: str) -> dict[str, Any]:
    if shape == "eventbridge":
        return events.eventbridge_event(bucket, key)
    notification = events.s3_notification(bucket, key)
    return events.sqs_event([notification]) if shape == "sqs" else notification


def test_events_for_buckets_outside_input_buckets_are_refused(
    handler, s3, lambda_context, capsys, dog_jpg: Path
) -> None:
    # GIVEN a real result for photos-a/uploads/x.jpg
    s3.put_object(Bucket=SERVED[0], Key="uploads/x.jpg", Body=dog_jpg.read_bytes())
    handler.lambda_handler(events.s3_notification(SERVED[0], "uploads/x.jpg"), lambda_context)
    before = everything(s3)
    calls = count_calls(handler.clients.s3)

    @fuzz(120)
    @given(
        bucket=(
            BUCKET_NAMES | st.sampled_from([RESULTS, "photos-a ", "PHOTOS-A", "photos-ab"])
        ).filter(lambda name: name not in SERVED),
        key=st.sampled_from(["uploads/x.jpg", "uploads/y.jpg"]) | KEY_TEXT.map("uploads/".__add__),
        shape=st.sampled_from(EVENT_SHAPES),
    )
    def check(bucket: str, key: str, shape: str) -> None:
        capsys.readouterr()
        # WHEN an event names a bucket the function does not serve
        with logs_to_current_stdout():
            response = handler.lambda_handler(event_for(bucket, key, shape), lambda_context)
        # THEN it is refused: not retried, nothing read or written ...
        assert response == (
            {"batchItemFailures": []} if shape == "sqs" else {"processed": ["refused"]}
        )
        assert calls == []
        # ... and one warning says so
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        [line] = [line for line in lines if "outcome" in line]
        assert line["outcome"] == "refused" and line["level"] == "WARNING"
        assert line["bucket"] == bucket

    check()
    assert everything(s3) == before


def test_without_input_buckets_the_upload_function_refuses_to_run(
    handler_env, s3, lambda_context, capsys, dog_jpg: Path
) -> None:
    # GIVEN the upload function deployed without INPUT_BUCKETS
    handler_env.delenv("INPUT_BUCKETS")
    handler = fresh_module("detector.handlers.s3")
    s3.put_object(Bucket=SERVED[0], Key="uploads/x.jpg", Body=dog_jpg.read_bytes())
    capsys.readouterr()

    # WHEN an upload arrives THEN the invocation fails (retried: the DLQ keeps the upload)
    with logs_to_current_stdout(), pytest.raises(ConfigurationError, match="INPUT_BUCKETS"):
        handler.lambda_handler(events.s3_notification(SERVED[0], "uploads/x.jpg"), lambda_context)

    # AND one error line says what to set; nothing was written
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    [line] = [line for line in lines if line.get("code") == "configuration_error"]
    assert line["level"] == "ERROR" and "INPUT_BUCKETS" in line["reason"]
    assert s3.list_objects_v2(Bucket=RESULTS).get("KeyCount") == 0
