"""A local AWS endpoint seeded for `sam local invoke` and `sam local start-api`.

    .venv/bin/python infra/local_endpoint.py             # moto on 0.0.0.0:5000; Ctrl-C stops it
    sam local invoke DetectApi -e /tmp/detect.json       # samconfig.toml adds infra/env.json

It starts moto's server (S3, KMS, Secrets Manager) through detector.local.s3server.LocalAws,
creates the bucket, seals the sample model with a KMS key and uploads it where
infra/env.json's MODEL_URI points, keeps a fresh JWT signing secret under the name its
JWT_SECRET_ID gives, and prints a token. The container reaches the endpoint as
host.docker.internal (samconfig.toml maps that name to the host), which is why the server
listens on every interface by default: it holds only the sample model, dummy credentials
and a throwaway secret.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import tempfile
import threading
from pathlib import Path

import boto3

from detector import auth, commands, settings
from detector.aws import S3Location
from detector.local import samples
from detector.local.s3server import LocalAws

ENV_JSON = Path(__file__).with_name("env.json")
MODEL_ID = "yolox-nano-local"


def function_env(function: str = "DetectApi") -> dict[str, str]:
    """The variables infra/env.json gives a function under `sam local`."""
    variables: dict[str, str] = json.loads(ENV_JSON.read_text())[function]
    return variables


def seed(env: dict[str, str]) -> str:
    """Create what ``env`` (infra/env.json) names on the endpoint boto3 points at; a token."""
    model = S3Location.parse(env[settings.MODEL_URI])
    boto3.client("s3").create_bucket(Bucket=model.bucket)
    key_arn = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    with tempfile.TemporaryDirectory() as folder:
        sealed = Path(folder) / "model.sealed"
        pack = ["pack", str(samples.sample_model_path()), "-o", str(sealed)]
        key = ["--kms-key-id", key_arn, "--names", str(samples.sample_names_path())]
        upload = ["--model-id", MODEL_ID, "--upload", env[settings.MODEL_URI]]
        if commands.main([*pack, *key, *upload]) != 0:
            raise SystemExit("could not seal the sample model")
    signing_secret = secrets.token_urlsafe(48)
    boto3.client("secretsmanager").create_secret(
        Name=env[settings.JWT_SECRET_ID], SecretString=signing_secret
    )
    return auth.issue_token(
        signing_secret, subject="sam-local", scope=env.get(settings.JWT_REQUIRED_SCOPE) or None
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=5000, help="the port infra/env.json names")
    args = parser.parse_args()
    # Only moto accepts LocalAws's credentials: nothing here can reach a real account.
    with LocalAws(host=args.host, port=args.port) as aws, aws.activated():
        token = seed(function_env())
        image = samples.sample_image_path()
        print(f"local endpoint on {args.host}:{args.port}, seeded for infra/env.json. Then:")
        print(
            f"  detector event api --kind http --image {image} --token {token} -o /tmp/detect.json"
        )
        print("  sam local invoke DetectApi -e /tmp/detect.json")
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()


if __name__ == "__main__":
    main()
