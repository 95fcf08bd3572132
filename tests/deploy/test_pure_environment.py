"""The pure-environment test: what the image build does, without Docker.

A fresh virtualenv with no site packages; function/requirements.txt installed alone into a
folder, as the Dockerfile's build stage does; the package copied as the Dockerfile and
.dockerignore copy it. The API and S3 handlers, imported from there alone by the module
paths that the Dockerfile's CMD and the template's ImageConfig name, run a real detection
on the sample model, sealed with KMS in a local moto server. This catches what only the
development environment has: a dependency missing from requirements.txt, an import of
detector.local, detector.commands or a dev tool, a handler path that does not exist.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from detector import commands, settings
from detector.local import events, tokens
from detector.local.endpoint import seed
from detector.local.s3server import LocalAws
from tests.deploy import image
from tests.deploy.cfn import evaluate, function_environment

PURE_INVOKE = Path(__file__).with_name("pure_invoke.py")
ENV_JSON = Path(__file__).resolve().parents[2] / "infra" / "env.json"
BUCKET = "detector-pure"
MODEL_KEY = "models/yolox_nano.sealed"
MODEL_ID = "yolox-nano-pure"
JWT_SECRET_NAME = "detector/jwt"
UPLOAD_KEY = "uploads/street dog.jpg"
# The sample photo shows a dog, a bicycle and a car (COCO class names).
EXPECTED_LABELS = {"dog", "bicycle"}


@pytest.fixture
def local_aws() -> Iterator[LocalAws]:
    """A moto server on 127.0.0.1 (S3, KMS, Secrets Manager), this process pointed at it."""
    with LocalAws() as aws, aws.activated():
        yield aws


@pytest.fixture
def deployed(local_aws: LocalAws, model_path: Path, coco_dir: Path, dog_jpg: Path, tmp_path: Path):
    """The sealed model, the JWT secret and an upload in moto, as a user's deployment has."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    key_id = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    jwt_secret = "pure-environment-signing-secret-0123456789"
    boto3.client("secretsmanager").create_secret(Name=JWT_SECRET_NAME, SecretString=jwt_secret)
    sealed = tmp_path / "model.sealed"
    pack = ["pack", str(model_path), "-o", str(sealed), "--kms-key-id", key_id]
    names = ["--names", str(coco_dir / "names.txt"), "--model-id", MODEL_ID]
    upload = [*names, "--upload", f"s3://{BUCKET}/{MODEL_KEY}"]
    assert commands.main(pack + upload) == 0
    s3.put_object(Bucket=BUCKET, Key=UPLOAD_KEY, Body=dog_jpg.read_bytes())
    return jwt_secret


# Parameter values and resource names to read the template's environment with.
TEMPLATE_VALUES: dict[str, Any] = {
    "ModelUri": f"s3://{BUCKET}/{MODEL_KEY}",
    "ModelKeySecretName": "",  # the model is sealed with KMS
    "ModelKeyParameterName": "",
    "JwtSecretName": JWT_SECRET_NAME,
    "JwtJwksUrl": "",
    "JwtIssuer": "",
    "JwtAudience": "",
    "JwtRequiredScope": "detect",
    "AnnotateUploads": "false",
    "UploadsBucket": BUCKET,
    "Traces": True,  # the condition of Tracing=Active, the default
}


def function_env(
    sam_template: dict[str, Any], function: str, aws: LocalAws, task_root: Path, site: Path
) -> dict[str, str]:
    """The environment template.yaml gives the function, nothing inherited from this one."""
    variables = function_environment(sam_template["transformed"], function)
    return {
        **evaluate(variables, TEMPLATE_VALUES),
        **aws.environ(),  # the template's empty AWS_ENDPOINT_URL, pointed at moto
        "PYTHONPATH": f"{task_root}:{site}",  # as on Lambda: the task root first
        "PYTHONDONTWRITEBYTECODE": "1",  # the task root is read-only on Lambda
        settings.MODEL_CACHE_DIR: str(task_root.parent / "tmp"),  # not the shared /tmp
    }


def invoke(python: Path, handler: str, event: dict[str, Any], env: dict[str, str], tmp: Path):
    """Run the handler in the pure interpreter; return its report (see pure_invoke.py)."""
    event_file = tmp / "event.json"
    event_file.write_text(json.dumps(event))
    result = subprocess.run(
        [python, "-s", PURE_INVOKE, handler, event_file],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    report: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    assert report["foreign_modules"] == [], "imported from outside the image's folders"
    assert report["tooling_modules"] == [], "the handler imported the command line or local tools"
    assert report["site_packages_on_path"] == []
    return report["response"]


@pytest.fixture
def run_function(pure_python, pure_requirements, sam_template, local_aws, tmp_path):
    """Run a function of the template on an event as its image would: the package copied
    as the Dockerfile copies it, the handler its CMD or ImageConfig names, its environment."""
    task_root = image.copy_package(tmp_path / "task")

    def run(function: str, event: dict[str, Any], overrides: dict[str, str] | None = None) -> Any:
        handler = image.handler_paths(sam_template["template"])[function]
        env = function_env(sam_template, function, local_aws, task_root, pure_requirements)
        return invoke(pure_python, handler, event, {**env, **(overrides or {})}, tmp_path)

    return run


def test_the_api_handler_detects_from_the_image_folders_alone(run_function, deployed, dog_jpg):
    # GIVEN a detection request with a real token
    token = tokens.sign_token(deployed, subject="pure-test", scope="detect", ttl_seconds=300)
    body = dog_jpg.read_bytes()
    event = events.api_event(
        "http", "POST", "/detect", body=body, content_type="image/jpeg", token=token
    )

    # WHEN the API function handles it
    response = run_function("DetectApi", event)

    # THEN it answers with the dog and the bicycle, from the sealed model
    assert response["statusCode"] == 200, response.get("body")
    labels = {detection["label"] for detection in json.loads(response["body"])["detections"]}
    assert labels >= EXPECTED_LABELS


def test_the_upload_handler_writes_results_from_the_image_folders_alone(run_function, deployed):
    # GIVEN an upload delivered through SQS, as the template wires it
    event = events.sqs_event([events.s3_notification(BUCKET, UPLOAD_KEY)])

    # WHEN the upload function handles it
    response = run_function("DetectUploads", event)

    # THEN no record failed, and the result file holds the dog and the bicycle
    assert response == {"batchItemFailures": []}
    s3 = boto3.client("s3")
    [result] = s3.list_objects_v2(Bucket=BUCKET, Prefix="detections/")["Contents"]
    document = json.loads(s3.get_object(Bucket=BUCKET, Key=result["Key"])["Body"].read())
    assert {detection["label"] for detection in document["detections"]} >= EXPECTED_LABELS


def test_the_demo_page_is_served_from_the_image_folders_alone(run_function):
    # WHEN the API function is asked for the page at /
    response = run_function("DetectApi", events.api_event("http", "GET", "/"))

    # THEN the page the image carries comes back
    assert response["statusCode"] == 200
    assert response["headers"]["Content-Type"].startswith("text/html")
    assert "<html" in response["body"].lower()


def test_infra_env_json_drives_the_api_against_the_seeded_local_endpoint(
    run_function, local_aws, dog_jpg
):
    # GIVEN a local endpoint seeded as infra/local_endpoint.py seeds it for infra/env.json
    local = json.loads(ENV_JSON.read_text())["DetectApi"]
    token = seed(local)
    event = events.api_event(
        "http", "POST", "/detect", body=dog_jpg.read_bytes(), content_type="image/jpeg", token=token
    )

    # WHEN the API function runs with env.json over the template's variables, as `sam local
    # invoke --env-vars` runs it (this process reaches the endpoint at 127.0.0.1, not
    # host.docker.internal as a container does)
    overrides = {**local, "AWS_ENDPOINT_URL": local_aws.endpoint_url}
    response = run_function("DetectApi", event, overrides)

    # THEN the sample model answers
    assert response["statusCode"] == 200, response.get("body")
    labels = {detection["label"] for detection in json.loads(response["body"])["detections"]}
    assert labels >= EXPECTED_LABELS
