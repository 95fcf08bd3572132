"""A local AWS endpoint seeded as a function's environment names it, for `sam local`.

``seed`` creates, on whatever endpoint boto3 points at (``LocalAws.activated()``), the
bucket and the sealed sample model that ``MODEL_URI`` names (sealed with a new KMS key),
and the JWT signing secret that ``JWT_SECRET_ID`` names; it returns a token signed with
that secret. ``infra/local_endpoint.py`` runs it for ``infra/env.json``.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Mapping
from pathlib import Path

import boto3

from detector import settings
from detector.aws import S3Location
from detector.local import packing, samples, tokens

MODEL_ID = "yolox-nano-local"


def seed(env: Mapping[str, str]) -> str:
    """Create what ``env`` names on the endpoint boto3 points at; a token for it."""
    location = S3Location.parse(env[settings.MODEL_URI])
    boto3.client("s3").create_bucket(Bucket=location.bucket)
    key_arn = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    with tempfile.TemporaryDirectory() as folder:
        packing.pack(
            samples.sample_model_path(),
            Path(folder) / "model.sealed",
            kms_key_id=key_arn,
            names_file=samples.sample_names_path(),
            model_id=MODEL_ID,
            upload_to=env[settings.MODEL_URI],
        )
    signing_secret = secrets.token_urlsafe(48)
    boto3.client("secretsmanager").create_secret(
        Name=env[settings.JWT_SECRET_ID], SecretString=signing_secret
    )
    return tokens.sign_token(
        signing_secret, subject="sam-local", scope=env.get(settings.JWT_REQUIRED_SCOPE) or None
    )
