"""`detector event` + `detector invoke`: the real handlers, in-process, on generated events."""

from __future__ import annotations

import io
import json
import os
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from detector.commands import main
from detector.local import events
from detector.local.s3server import LocalAws
from tests import tokens
from tests.cli import REPO, detector

SAMPLES = REPO / "infra" / "events"
SECRET = tokens.SECRET


@pytest.fixture
def cold(handler_env: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Each invoke imports its handler anew, as a new Lambda container would."""
    for name in ("detector.handlers.api", "detector.handlers.s3"):
        handler_env.delitem(sys.modules, name, raising=False)
    return handler_env


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_an_api_event_with_a_fresh_token_invokes_detection(
    cold, capsys, tmp_path: Path, dog_jpg: Path
) -> None:
    # GIVEN an HTTP API event for the photo, with a token minted from --secret
    event_file = tmp_path / "detect.json"
    main(
        ["event", "api", "--image", str(dog_jpg), "--secret", tokens.SECRET, "-o", str(event_file)]
    )

    # WHEN it is invoked
    response = run(capsys, "invoke", "--event", str(event_file))

    # THEN the handler's response is printed
    assert response["statusCode"] == 200
    assert "dog" in {d["label"] for d in json.loads(response["body"])["detections"]}


def test_invoke_writes_the_annotated_jpeg_body_to_a_file(
    cold, capsys, tmp_path: Path, dog_jpg: Path
) -> None:
    event_file, jpeg_file = tmp_path / "detect.json", tmp_path / "out.jpg"
    main(
        [
            "event",
            "api",
            "--kind",
            "rest",
            "--image",
            str(dog_jpg),
            "--json",
            "--accept",
            "image/jpeg",
            "--option",
            "conf=0.4",
            "--secret",
            tokens.SECRET,
            "-o",
            str(event_file),
        ]
    )

    response = run(capsys, "invoke", "--event", str(event_file), "--body-out", str(jpeg_file))

    assert response["statusCode"] == 200
    with Image.open(io.BytesIO(jpeg_file.read_bytes())) as image:
        assert image.format == "JPEG"


def test_an_s3_event_through_sqs_writes_the_result(
    cold, capsys, tmp_path: Path, dog_jpg: Path
) -> None:
    cold.setenv("INPUT_BUCKETS", "photos")
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="photos")
    s3.put_object(Bucket="photos", Key="uploads/a b+c.jpg", Body=dog_jpg.read_bytes())
    event_file = tmp_path / "sqs.json"
    main(
        [
            "event",
            "s3",
            "--bucket",
            "photos",
            "--key",
            "uploads/a b+c.jpg",
            "--via",
            "sqs",
            "-o",
            str(event_file),
        ]
    )

    response = run(capsys, "invoke", "--event", str(event_file))

    assert response == {"batchItemFailures": []}
    result = s3.get_object(Bucket="photos", Key="detections/uploads/a b+c.jpg.json")
    assert json.loads(result["Body"].read())["detections"]


def test_the_ready_made_health_event_needs_no_token(cold, capsys) -> None:
    response = run(capsys, "invoke", "--event", str(SAMPLES / "api-health.json"))

    assert response["statusCode"] == 200


def test_the_ready_made_events_carry_a_placeholder_token_that_is_refused(cold, capsys) -> None:
    response = run(capsys, "invoke", "--event", str(SAMPLES / "api-model.json"), "--handler", "api")

    assert response["statusCode"] == 401


# --- as a user runs it: a subprocess, with what a fresh machine has (issue 13, item 7) -----
def no_aws_env(**settings: str) -> dict[str, str]:
    """No AWS credentials anywhere (nor an instance to ask), and the given settings alone."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "MODEL_", "JWT_"))
    }
    env.update(
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent",
        AWS_CONFIG_FILE="/nonexistent",
        AWS_EC2_METADATA_DISABLED="true",
        AWS_DEFAULT_REGION="us-east-1",
        POWERTOOLS_TRACE_DISABLED="true",
    )
    env.update(settings)
    return env


def write_event(tmp_path: Path, *argv: str) -> Path:
    event_file = tmp_path / "event.json"
    done = detector("event", *argv, "-o", event_file)
    assert done.returncode == 0, done.stderr
    return event_file


@pytest.mark.parametrize("via", ["direct", "sqs"])
def test_an_s3_event_without_credentials_answers_as_lambda_would_without_a_traceback(
    tmp_path, model_path, via
):
    # GIVEN an upload event (alone, or the whole of an SQS batch) and no AWS credentials
    argv = ["s3", "--bucket", "photos", "--key", "uploads/a.jpg", "--via", via]
    event = write_event(tmp_path, *argv)

    # WHEN it is invoked
    env = no_aws_env(MODEL_URI=str(model_path), INPUT_BUCKETS="photos")
    done = detector("invoke", "--event", event, env=env)

    # THEN the function raised (Lambda retries it): its error is the answer, the reason one
    # line on stderr, and the exit code says the function failed
    assert done.returncode == 1
    answer = json.loads(done.stdout)
    assert set(answer) == {"errorType", "errorMessage"}
    assert "no usable AWS credentials" in answer["errorMessage"]
    assert done.stderr.startswith("detector invoke: the function raised ")
    assert "no usable AWS credentials" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_records_that_failed_in_an_sqs_batch_exit_1(tmp_path, model_path, dog_jpg):
    # GIVEN a batch of two uploads: one S3 can serve, one in a bucket that does not exist
    with LocalAws() as aws, aws.activated():
        aws.client("s3").create_bucket(Bucket="photos")
        aws.client("s3").put_object(Bucket="photos", Key="uploads/a.jpg", Body=b"x")
        good = events.s3_notification("photos", "uploads/a.jpg")
        bad = events.s3_notification("elsewhere", "uploads/b.jpg")
        event = tmp_path / "batch.json"
        event.write_text(json.dumps(events.sqs_event([good, bad])))

        # WHEN the batch is invoked
        env = {"MODEL_URI": str(model_path), "INPUT_BUCKETS": "photos,elsewhere"}
        done = detector("invoke", "--event", event, env=env)

    # THEN one record is reported failed, and the exit code says so
    assert done.returncode == 1, done.stderr
    assert len(json.loads(done.stdout)["batchItemFailures"]) == 1
    assert "1 record(s) failed and would be retried" in done.stderr


def test_an_answer_of_503_is_printed_and_exits_1_with_its_reason(tmp_path):
    event = write_event(tmp_path, "api", "--method", "GET", "--path", "/model", "--secret", SECRET)
    env = no_aws_env(MODEL_URI=str(tmp_path / "missing.onnx"), JWT_SECRET=SECRET)

    done = detector("invoke", "--event", event, env=env)

    assert done.returncode == 1
    assert json.loads(done.stdout)["statusCode"] == 503
    assert "the function answered 503: model_unavailable" in done.stderr
    assert "missing.onnx" in done.stderr
    assert "--verbose" in done.stderr
    # the function's own log lines appear only when asked for
    verbose = detector("invoke", "--event", event, "--verbose", env=env)
    assert '"level":"ERROR"' in verbose.stderr.replace(" ", "")


def test_a_missing_model_uri_is_reported_before_the_token_settings(tmp_path):
    event = write_event(tmp_path, "api", "--method", "GET", "--path", "/model", "--no-token")

    done = detector("invoke", "--event", event, env=no_aws_env())

    assert done.returncode == 2
    assert "MODEL_URI is not set" in done.stderr
    assert "JWT" not in done.stderr


def test_an_event_file_that_is_not_json_is_refused_with_where(tmp_path):
    event = tmp_path / "event.json"
    event.write_text("{not json")

    done = detector("invoke", "--event", event, env=no_aws_env(MODEL_URI="x.onnx"))

    assert done.returncode == 2
    assert f"the event in {event} is not JSON" in done.stderr
