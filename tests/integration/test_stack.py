"""A deployed stack works end to end: skipped unless STACK_NAME names one.

    sam build && sam deploy --guided
    STACK_NAME=serverless-detector AWS_REGION=eu-west-1 pytest tests/integration

Everything the tests need comes from the stack: its Outputs (API URL, uploads bucket) and
its parameters (the JWT secret's name, from which a short-lived token is minted with the
caller's own AWS credentials). With a JWKS-verified stack, set DETECTOR_TOKEN instead.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest

from detector.local.tokens import sign_token

STACK_NAME = os.environ.get("STACK_NAME")
TOKEN_ENV = "DETECTOR_TOKEN"
RESULT_WAIT_SECONDS = 180
EXPECTED_LABELS = {"dog", "bicycle"}

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not STACK_NAME, reason="needs a deployed stack: set STACK_NAME"),
]


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """The stack's outputs and parameters, by key."""
    [description] = boto3.client("cloudformation").describe_stacks(StackName=STACK_NAME)["Stacks"]
    return {
        **{p["ParameterKey"]: p.get("ParameterValue", "") for p in description["Parameters"]},
        **{o["OutputKey"]: o["OutputValue"] for o in description["Outputs"]},
    }


@pytest.fixture(scope="module")
def token(stack: dict[str, Any]) -> str:
    if os.environ.get(TOKEN_ENV):
        return os.environ[TOKEN_ENV]
    assert stack["JwtSecretName"], f"the stack verifies tokens by JWKS: set {TOKEN_ENV}"
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=stack["JwtSecretName"])
    return sign_token(
        secret["SecretString"],
        subject="integration-test",
        scope=stack["JwtRequiredScope"] or None,
        issuer=stack["JwtIssuer"] or None,
        audience=stack["JwtAudience"] or None,
        ttl_seconds=600,
    )


def request(url: str, *, data: bytes | None = None, headers: dict[str, str] | None = None):
    """(status, JSON body) of an HTTPS request; error statuses are answers too."""
    outgoing = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(outgoing, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_health_answers_without_a_token(stack):
    status, body = request(f"{stack['ApiUrl']}/health")

    assert status == 200, body


def test_detect_without_a_token_is_refused(stack, dog_jpg: Path):
    status, body = request(
        f"{stack['ApiUrl']}/detect",
        data=dog_jpg.read_bytes(),
        headers={"Content-Type": "image/jpeg"},
    )

    assert status == 401
    assert body["error"]["code"]


def test_detect_finds_the_dog_and_the_bicycle(stack, token, dog_jpg: Path):
    status, body = request(
        f"{stack['ApiUrl']}/detect",
        data=dog_jpg.read_bytes(),
        headers={"Content-Type": "image/jpeg", "Authorization": f"Bearer {token}"},
    )

    assert status == 200, body
    assert {detection["label"] for detection in body["detections"]} >= EXPECTED_LABELS


def test_an_uploaded_image_gets_a_result_file(stack, dog_jpg: Path):
    # GIVEN an image put under uploads/
    s3 = boto3.client("s3")
    bucket = stack["UploadsBucketName"]
    key = f"uploads/integration/{uuid.uuid4()}.jpg"
    s3.put_object(Bucket=bucket, Key=key, Body=dog_jpg.read_bytes())

    # WHEN the upload function has had time to run
    deadline = time.monotonic() + RESULT_WAIT_SECONDS
    results: list[dict[str, Any]] = []
    while not results and time.monotonic() < deadline:
        time.sleep(5)
        results = s3.list_objects_v2(Bucket=bucket, Prefix=f"detections/{key}").get("Contents", [])

    # THEN a result file holds the dog and the bicycle
    assert results, f"no result under detections/{key} after {RESULT_WAIT_SECONDS} s"
    result = json.loads(s3.get_object(Bucket=bucket, Key=results[0]["Key"])["Body"].read())
    assert {detection["label"] for detection in result["detections"]} >= EXPECTED_LABELS
