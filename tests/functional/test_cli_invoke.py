"""`detector event` + `detector invoke`: the real handlers, in-process, on generated events."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image

from detector.cli import main
from tests import tokens

SAMPLES = Path(__file__).resolve().parents[2] / "infra" / "events"


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
