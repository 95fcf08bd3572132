"""SnapStart: the API handler initialised for a snapshot by AWS's own runtime client
(``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``), held where Lambda would snapshot it, then
restored, against the local Runtime API and moto's server.

Credentials come as SnapStart functions get them: from a container credentials endpoint
(``AWS_CONTAINER_CREDENTIALS_FULL_URI``), served here and counting its callers, so a test
can tell credentials resolved again after the restore from credentials kept from before.
These catch hooks that are not registered or run out of order, a snapshot taken without
the model, a restore that keeps the old clients, a changed model object that is never
noticed, and a model that cannot load becoming a broken snapshot instead of a failed
publish.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from detector import snapstart
from detector.aws import AwsClients
from detector.errors import ModelUnavailableError
from detector.local import events
from detector.local.packing import describe_model
from detector.local.runtime_api import LambdaProcess, RuntimeApi, RuntimeExitedError
from detector.local.s3server import LocalAws
from detector.model import keys
from detector.model.artifact import seal
from detector.model.store import ModelHolder
from detector.observability import MeasuredModel, tracer
from detector.settings import Settings
from tests import tokens

API_HANDLER = "detector.handlers.api.lambda_handler"
BUCKET = "models"
MODEL_KEY = "yolox_nano.sealed"
JWT_SECRET_NAME = "detector/jwt"
REPO = Path(__file__).resolve().parents[2]


class CredentialsEndpoint:
    """Lambda's container credentials endpoint, on 127.0.0.1: counts the fetches."""

    def __init__(self) -> None:
        self.fetches = 0
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                endpoint.fetches += 1
                expires = datetime.now(UTC) + timedelta(hours=6)
                body = json.dumps(
                    {
                        "AccessKeyId": f"ASIA{endpoint.fetches:016d}",
                        "SecretAccessKey": "testing",
                        "Token": "testing",
                        "Expiration": expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/credentials"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def sealed_model(local: LocalAws, model_bytes: bytes, names: Path, model_id: str) -> bytes:
    metadata = describe_model(
        model_bytes, names_file=names, family=None, model_id=model_id, default_id=model_id
    )
    kms = local.client("kms")
    key_id = kms.create_key(Description=model_id)["KeyMetadata"]["Arn"]
    return seal(model_bytes, keys.kms_data_key(kms, key_id, model_id), metadata)


@pytest.fixture
def stack(model_bytes: bytes, coco_dir: Path) -> Iterator[tuple[LocalAws, CredentialsEndpoint]]:
    """moto's server with the sealed sample model and the JWT secret; a credentials endpoint."""
    credentials = CredentialsEndpoint()
    with LocalAws() as local:
        s3 = local.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        sealed = sealed_model(local, model_bytes, coco_dir / "names.txt", "yolox-nano-v1")
        s3.put_object(Bucket=BUCKET, Key=MODEL_KEY, Body=sealed)
        local.client("secretsmanager").create_secret(
            Name=JWT_SECRET_NAME, SecretString=tokens.SECRET
        )
        yield local, credentials
    credentials.close()


def function_env(
    local: LocalAws, credentials: CredentialsEndpoint, tmp_path: Path, model_uri: str
) -> dict[str, str]:
    """The function's environment; credentials only from the container endpoint."""
    environ = local.environ()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        environ[name] = ""  # botocore skips empty ones
    return {
        **environ,
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": credentials.url,
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "MODEL_URI": model_uri,
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "JWT_SECRET_ID": JWT_SECRET_NAME,
        "JWT_REQUIRED_SCOPE": "detect",
        "POWERTOOLS_SERVICE_NAME": "detector-test",  # as the template sets it
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def detect_event(image: Path) -> dict[str, Any]:
    return events.api_event(
        "http",
        "POST",
        "/detect",
        body=image.read_bytes(),
        content_type="image/jpeg",
        token=tokens.hs256(),
    )


def answer(function: LambdaProcess, event: dict[str, Any]) -> dict[str, Any]:
    reply = function.invoke(event)
    assert reply.outcome == "response", function.output()
    response: dict[str, Any] = reply.json()
    assert response["statusCode"] == 200, (response, function.output())
    body: dict[str, Any] = json.loads(response["body"])
    return body


def test_the_snapshot_holds_a_warm_model_and_the_restore_renews_clients_and_rechecks_it(
    stack, tmp_path: Path, dog_jpg: Path, model_bytes: bytes, coco_dir: Path
) -> None:
    local, credentials = stack
    env = function_env(local, credentials, tmp_path, f"s3://{BUCKET}/{MODEL_KEY}")
    with (
        RuntimeApi(hold_restore=True) as api,
        LambdaProcess.start(API_HANDLER, api, env=env, task_root=REPO, snap_start=True) as function,
    ):
        # GIVEN the runtime at its snapshot point (waiting on restore/next)
        api.wait_for_call("restore_next", timeout=120, process=function.popen)
        time.sleep(0.2)  # an after-restore hook run too early would have logged by now
        before = function.output()
        fetches_before = credentials.fetches
        # THEN the before-snapshot hook has loaded the model and run a detection, and no
        # after-restore hook has run
        assert "ready for the snapshot: model loaded and warmed up" in before
        assert '"model_id":"yolox-nano-v1"' in before
        # with the collector running again, what the initialisation built frozen
        frozen = re.search(r'"frozen_objects":(\d+)', before)
        assert frozen and int(frozen.group(1)) > 100_000
        assert "restored from the snapshot" not in before
        assert fetches_before >= 1  # the model's download and key unwrap needed credentials

        # WHEN, while the snapshot waits, another model is put at MODEL_URI
        other = sealed_model(local, model_bytes, coco_dir / "names.txt", "yolox-nano-v2")
        local.client("s3").put_object(Bucket=BUCKET, Key=MODEL_KEY, Body=other)
        # and the snapshot is restored with a request waiting
        api.release_restore()
        document = answer(function, detect_event(dog_jpg))

        # THEN the after-restore hook ran, and resolved credentials again
        after = function.output()
        assert after.index("ready for the snapshot") < after.index("restored from the snapshot")
        assert credentials.fetches > fetches_before
        # and the changed object was noticed before the request: the new model answered it
        assert {d["label"] for d in document["detections"]} >= {"dog", "bicycle"}
        assert document["model"]["id"] == "yolox-nano-v2"


def test_a_model_that_cannot_load_fails_the_snapshot_with_a_clear_error(
    stack, tmp_path: Path
) -> None:
    local, credentials = stack
    env = function_env(local, credentials, tmp_path, f"s3://{BUCKET}/no-such.sealed")
    with (
        RuntimeApi() as api,
        LambdaProcess.start(API_HANDLER, api, env=env, task_root=REPO, snap_start=True) as function,
    ):
        with pytest.raises(RuntimeExitedError):
            function.invoke({})
        assert function.wait_exit() == 64  # awslambdaric: a before-snapshot hook failed

    (error,) = [call for call in api.calls if call.kind == "init_error"]
    assert error.error_type == "Runtime.BeforeSnapshotError"
    message = error.json()["errorMessage"]
    assert "SnapStart: the model must be loaded before the snapshot" in message
    assert f"s3://{BUCKET}/no-such.sealed: no such object" in message
    # no snapshot: the runtime never reached restore/next
    assert "restore_next" not in [call.kind for call in api.calls]


# --- the hooks themselves, in this process ----------------------------------------------------
@pytest.fixture
def measured(clients, bucket, kms_key, model_bytes, coco_dir, tmp_path) -> MeasuredModel:
    metadata = describe_model(
        model_bytes,
        names_file=coco_dir / "names.txt",
        family=None,
        model_id="yolox-nano",
        default_id="x",
    )
    sealed = seal(model_bytes, keys.kms_data_key(clients.kms, kms_key, "yolox-nano"), metadata)
    clients.s3.put_object(Bucket=bucket, Key=MODEL_KEY, Body=sealed)
    settings = Settings.from_env(
        {},
        model_uri=f"s3://{bucket}/{MODEL_KEY}",
        model_cache_dir=tmp_path / "cache",
        ort_threads=1,
        tracing=False,
    )
    return MeasuredModel(ModelHolder(settings, clients=clients), tracer(settings), metrics())


def metrics() -> Any:
    from aws_lambda_powertools import Metrics  # noqa: PLC0415

    return Metrics(namespace="DetectorTest", service="detector-test")


def test_the_before_snapshot_hook_loads_the_model_and_prepares_the_rest(
    measured: MeasuredModel,
) -> None:
    prepared: list[str] = []
    snapstart.load_and_warm_up(measured, [lambda: prepared.append("verifier")])
    assert measured.holder.loaded
    assert prepared == ["verifier"]


def test_the_after_restore_hook_renews_what_instances_must_not_share(
    measured: MeasuredModel, clients: AwsClients, caplog
) -> None:
    snapstart.load_and_warm_up(measured)
    s3_before = clients.s3
    random_before = random.getstate()
    steps: list[str] = []

    def failing() -> None:
        raise ModelUnavailableError("Secrets Manager is down")

    # WHEN restored, with one of the handler's own steps failing
    recheck = snapstart.renew(measured, clients, [lambda: steps.append("verifier"), failing])
    recheck.join()
    # THEN the random state was reseeded, the clients renewed, the handler's steps run (the
    # failing one logged, not raised: the restore goes on), the unchanged model kept
    assert random.getstate() != random_before
    assert clients.s3 is not s3_before
    assert steps == ["verifier"]
    assert "Secrets Manager is down" in caplog.text
    assert measured.holder.loaded


def test_the_warm_up_image_is_a_jpeg_with_an_exif_orientation() -> None:
    from PIL import Image  # noqa: PLC0415

    from detector.pipeline.container import ORIENTATION_TAG  # noqa: PLC0415

    image = Image.open(__import__("io").BytesIO(snapstart.warm_up_image()))
    assert image.format == "JPEG"
    assert image.size == snapstart.WARM_UP_SIZE
    assert image.getexif()[ORIENTATION_TAG] == 1
