"""moto-backed AWS for functional tests: fake credentials, one region, nothing leaves the box."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto import settings as moto_settings
from moto.core.authorization import ActionAuthenticatorMixin

from detector.aws import AwsClients
from tests import tokens
from tests.lambdas import fresh_module

REGION = "us-east-1"
UPLOADS_BUCKET = "detector-uploads"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every boto3 call inside the test goes to moto's in-memory AWS."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


@pytest.fixture
def clients(aws: None, monkeypatch: pytest.MonkeyPatch) -> AwsClients:
    """Our clients of a fresh moto account (no endpoint override can send them elsewhere)."""
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    return AwsClients()


@pytest.fixture
def bucket(clients: AwsClients) -> str:
    """A versioned bucket."""
    clients.s3.create_bucket(Bucket="models")
    clients.s3.put_bucket_versioning(Bucket="models", VersioningConfiguration={"Status": "Enabled"})
    return "models"


@pytest.fixture
def kms_key(clients: AwsClients) -> str:
    return str(clients.kms.create_key(Description="model key")["KeyMetadata"]["Arn"])


@pytest.fixture
def clients_allowed(clients: AwsClients, monkeypatch) -> Callable[[list[str]], AwsClients]:
    """Clients of an IAM user allowed only ``actions``; moto enforces IAM from then on."""

    def make(actions: list[str]) -> AwsClients:
        iam = boto3.client("iam")
        iam.create_user(UserName="restricted")
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
        iam.put_user_policy(
            UserName="restricted", PolicyName="only", PolicyDocument=json.dumps(policy)
        )
        access = iam.create_access_key(UserName="restricted")["AccessKey"]
        monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
        monkeypatch.setattr(ActionAuthenticatorMixin, "request_count", 0)
        session = boto3.session.Session(
            aws_access_key_id=access["AccessKeyId"],
            aws_secret_access_key=access["SecretAccessKey"],
            region_name=REGION,
        )
        return AwsClients(session=session)

    return make


@pytest.fixture
def handler_env(
    monkeypatch: pytest.MonkeyPatch, aws: None, model_path: Path, coco_dir: Path
) -> pytest.MonkeyPatch:
    """The environment a deployed function has: Powertools, the plain model, a JWT secret."""
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "detector-test")
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "DetectorTest")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("MODEL_URI", str(model_path))
    monkeypatch.setenv("MODEL_NAMES_FILE", str(coco_dir / "names.txt"))
    monkeypatch.setenv("JWT_SECRET", tokens.SECRET)
    monkeypatch.setenv("JWT_REQUIRED_SCOPE", "detect")
    return monkeypatch


@pytest.fixture
def uploads_bucket() -> str:
    """The bucket the upload function serves (INPUT_BUCKETS); a module may override it."""
    return UPLOADS_BUCKET


@pytest.fixture
def s3(handler_env: pytest.MonkeyPatch, uploads_bucket: str) -> Any:
    """A moto S3 client, with the served uploads bucket created and named in INPUT_BUCKETS."""
    handler_env.setenv("INPUT_BUCKETS", uploads_bucket)
    client = boto3.client("s3")
    client.create_bucket(Bucket=uploads_bucket)
    return client


@pytest.fixture
def uploads_handler(s3: Any) -> ModuleType:
    """The upload function's handler module, cold-started in the environment above."""
    return fresh_module("detector.handlers.s3")
