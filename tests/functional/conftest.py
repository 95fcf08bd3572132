"""moto stands in for AWS: S3, KMS, Secrets Manager, SSM, and IAM when a test needs it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import boto3
import pytest
from moto import mock_aws
from moto import settings as moto_settings
from moto.core.authorization import ActionAuthenticatorMixin

from detector.aws import AwsClients

REGION = "us-east-1"


@pytest.fixture
def aws_env(monkeypatch) -> None:
    """Fake credentials and a region (Powertools' parameters utility needs one too)."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def clients(aws_env) -> Iterator[AwsClients]:
    """Clients of a fresh moto account."""
    with mock_aws():
        yield AwsClients()


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
