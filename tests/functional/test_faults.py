"""Faults at cold start and in the S3 flow: each ends in the documented error, the next
invocation recovers where it can, and no uploaded image's result is lost silently.

S3 that is down or hangs is a real socket on 127.0.0.1 (closed, or accepting and never
answering) that later becomes moto's real server on the same port; throttling and other
answers moto cannot give come from botocore's Stubber.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber
from moto import settings as moto_settings

from detector.aws import AwsClients
from detector.errors import DetectorError, ModelUnavailableError
from detector.local import events
from detector.model import keys
from detector.model.artifact import ModelMetadata, seal
from detector.model.store import ModelHolder
from detector.pipeline.engine import inspect_model
from detector.pipeline.families import parse_names
from detector.settings import Settings
from tests import tokens
from tests.lambdas import fresh_module, header, json_body

REGION = "us-east-1"
MODEL_KEY = "models/yolox-nano.sealed"
# Short timeouts and no retries: a hung endpoint fails the test in about a second.
IMPATIENT = Config(connect_timeout=0.5, read_timeout=0.5, retries={"max_attempts": 1})


@pytest.fixture(scope="module")
def metadata(model_bytes: bytes, coco_dir: Path) -> ModelMetadata:
    info = inspect_model(model_bytes)
    names = parse_names((coco_dir / "names.txt").read_text())
    return ModelMetadata(info.family, info.input_size, names, "yolox-nano")


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)


class Endpoint:
    """A 127.0.0.1 port that is first down or hanging, then moto's real server."""

    def __init__(self) -> None:
        self._socket = socket.socket()
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))  # bound, not listening: connections refused
        self.port = self._socket.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._held: list[socket.socket] = []
        self._hanging = threading.Event()
        self._server: Any = None

    def hang(self) -> None:
        """Accept connections and never answer."""
        self._socket.listen()
        self._socket.settimeout(0.05)
        self._hanging.set()

        def accept() -> None:
            while self._hanging.is_set():
                try:
                    self._held.append(self._socket.accept()[0])
                except TimeoutError:
                    continue

        self._accepting = threading.Thread(target=accept, daemon=True)
        self._accepting.start()

    def up(self) -> None:
        """Replace the dead socket by moto's server on the same port, empty."""
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - dev dependency

        self.close_socket()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()
        reset = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(reset, timeout=10):
            pass

    def close_socket(self) -> None:
        if self._hanging.is_set():
            self._hanging.clear()
            self._accepting.join()
        for held in self._held:
            held.close()
        self._socket.close()

    def stop(self) -> None:
        self.close_socket()
        if self._server is not None:
            self._server.stop()

    def clients(self) -> AwsClients:
        make = boto3.session.Session(region_name=REGION).client
        return AwsClients(
            s3=make("s3", endpoint_url=self.url, config=IMPATIENT),
            kms=make("kms", endpoint_url=self.url, config=IMPATIENT),
        )


@pytest.fixture
def endpoint(fake_credentials: None) -> Iterator[Endpoint]:
    point = Endpoint()
    yield point
    point.stop()


def settings_for(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        model_uri=f"s3://models/{MODEL_KEY}",
        model_cache_dir=tmp_path / "cache",
        ort_threads=1,
    )


def publish(clients: AwsClients, model: bytes, metadata: ModelMetadata) -> bytes:
    """Seal ``model`` under a fresh KMS key of ``clients`` and put it where the holder looks."""
    key_id = clients.kms.create_key(Description="model key")["KeyMetadata"]["Arn"]
    sealed = seal(model, keys.kms_data_key(clients.kms, key_id, metadata.model_id), metadata)
    buckets = {b["Name"] for b in clients.s3.list_buckets().get("Buckets", [])}
    if "models" not in buckets:
        clients.s3.create_bucket(Bucket="models")
    clients.s3.put_object(Bucket="models", Key=MODEL_KEY, Body=sealed)
    return sealed


def test_cold_start_fails_while_s3_is_down_and_recovers_when_it_is_back(
    endpoint, tmp_path, model_bytes, metadata, dog_jpg
):
    # GIVEN the S3 endpoint refuses connections
    clients = endpoint.clients()
    holder = ModelHolder(settings_for(tmp_path), clients=clients)
    # WHEN the first invocation needs the model THEN it is unavailable, saying why
    with pytest.raises(ModelUnavailableError, match=r"unreachable.*retry later"):
        holder.get()
    assert not holder.loaded
    # WHEN S3 comes back with the model THEN the next invocation loads it and detects
    endpoint.up()
    publish(clients, model_bytes, metadata)
    loaded = holder.get()
    assert loaded.fetched_from == "s3"
    assert len(loaded.detector.detect(dog_jpg.read_bytes()).detections) >= 3


def test_cold_start_gives_up_on_an_s3_that_hangs_and_recovers_later(
    endpoint, tmp_path, model_bytes, metadata
):
    # GIVEN an S3 endpoint that accepts connections and never answers
    endpoint.hang()
    clients = endpoint.clients()
    holder = ModelHolder(settings_for(tmp_path), clients=clients)
    # WHEN / THEN the cold start gives up at the client's read timeout, not never
    with pytest.raises(ModelUnavailableError, match=r"unreachable.*retry later"):
        holder.get()
    # AND once S3 answers again the next invocation loads the model
    endpoint.up()
    publish(clients, model_bytes, metadata)
    assert holder.get().model_id == "yolox-nano"


def test_access_denied_at_cold_start_recovers_once_the_permission_is_granted(
    clients, bucket, tmp_path, model_bytes, metadata, clients_allowed, monkeypatch
):
    # GIVEN the model in S3, and a function role that may use KMS but not read S3
    publish(clients, model_bytes, metadata)
    restricted = clients_allowed(["kms:Decrypt"])
    holder = ModelHolder(settings_for(tmp_path), clients=restricted)
    # WHEN / THEN the cold start fails naming the missing permission
    with pytest.raises(ModelUnavailableError, match=r"access denied .*s3:GetObject"):
        holder.get()
    # WHEN the permission is granted THEN the next invocation loads the model
    grant(monkeypatch, ["s3:GetObject", "kms:Decrypt"])
    assert holder.get().model_id == "yolox-nano"


def grant(monkeypatch: pytest.MonkeyPatch, actions: list[str]) -> None:
    """Replace the restricted user's policy (as an administrator would, unchecked by moto)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
    }
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
    boto3.client("iam").put_user_policy(
        UserName="restricted", PolicyName="only", PolicyDocument=json.dumps(policy)
    )
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)


def test_kms_throttling_at_cold_start_is_retried_by_the_next_invocation(
    clients, bucket, tmp_path, model_bytes, metadata
):
    # GIVEN the model sealed under a KMS data key whose plaintext we keep for the stub
    key_id = clients.kms.create_key()["KeyMetadata"]["Arn"]
    data_key = keys.kms_data_key(clients.kms, key_id, metadata.model_id)
    clients.s3.put_object(
        Bucket="models", Key=MODEL_KEY, Body=seal(model_bytes, data_key, metadata)
    )
    kms = boto3.client("kms", region_name=REGION)
    holder = ModelHolder(settings_for(tmp_path), clients=AwsClients(s3=clients.s3, kms=kms))
    with Stubber(kms) as stub:
        # WHEN KMS throttles the Decrypt of the data key
        stub.add_client_error("decrypt", "ThrottlingException", "Rate exceeded", 400)
        # THEN the cold start fails as unavailable, to be retried
        with pytest.raises(ModelUnavailableError, match=r"ThrottlingException.*retry later"):
            holder.get()
        # AND the next invocation, with KMS answering, loads the model
        stub.add_response("decrypt", {"Plaintext": data_key.plaintext, "KeyId": key_id})
        assert holder.get().model_id == "yolox-nano"
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    "damage",
    ["flipped byte", "truncated", "empty", "index garbage", "index points elsewhere"],
)
def test_a_corrupt_cached_model_in_tmp_is_replaced_from_s3(
    clients, bucket, tmp_path, model_bytes, metadata, damage
):
    # GIVEN a container that loaded the model and left its sealed bytes in the /tmp cache
    sealed = publish(clients, model_bytes, metadata)
    settings = settings_for(tmp_path)
    ModelHolder(settings, clients=clients).get()
    (body,) = settings.model_cache_dir.glob("*.sealed")
    (index,) = settings.model_cache_dir.glob("*.json")
    # WHEN the cached file is damaged
    if damage == "flipped byte":
        data = bytearray(body.read_bytes())
        data[len(data) // 3] ^= 0x01
        body.write_bytes(bytes(data))
    elif damage == "truncated":
        body.write_bytes(body.read_bytes()[:1000])
    elif damage == "empty":
        body.write_bytes(b"")
    elif damage == "index garbage":
        index.write_bytes(b"\x00\xff{not json")
    else:
        index.write_text('{"uri": "s3://other/key", "etag": null, "version_id": null}')
    # THEN the next container still loads the model, from S3, and the cache is sound again
    loaded = ModelHolder(settings, clients=clients).get()
    assert loaded.model_id == "yolox-nano"
    assert body.read_bytes() == sealed


def test_a_model_that_fails_to_load_is_unavailable_until_a_good_one_is_published(
    clients, bucket, tmp_path, model_bytes, metadata
):
    # GIVEN a sound, correctly sealed artifact whose content onnxruntime cannot load
    broken = model_bytes[: len(model_bytes) // 2]
    publish(clients, broken, metadata)
    holder = ModelHolder(settings_for(tmp_path), clients=clients)
    # WHEN / THEN the cold start fails as unavailable, and nothing half-loaded is kept
    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        holder.get()
    assert not holder.loaded
    # WHEN a good model replaces it THEN the next invocation loads that one
    publish(clients, model_bytes, metadata)
    assert holder.get().sha256 == hashlib.sha256(model_bytes).hexdigest()


# --- through the handlers: what a caller and an uploader see ------------------------------
def test_the_api_answers_503_while_s3_is_down_and_serves_once_it_is_back(
    handler_env, endpoint, tmp_path, model_bytes, metadata, dog_jpg, lambda_context
):
    # GIVEN a function whose sealed model lies in an S3 that refuses connections
    handler_env.setenv("AWS_ENDPOINT_URL", endpoint.url)
    handler_env.setenv("MODEL_URI", f"s3://models/{MODEL_KEY}")
    handler_env.setenv("MODEL_CACHE_DIR", str(tmp_path / "cache"))
    api = fresh_module("detector.handlers.api")
    event = events.api_event(
        "http",
        "POST",
        "/detect",
        body=dog_jpg.read_bytes(),
        content_type="image/jpeg",
        token=tokens.hs256(),
    )
    # WHEN a detection request arrives THEN it is a 503 to retry, in the documented shape
    first = api.lambda_handler(event, lambda_context)
    assert first["statusCode"] == 503
    assert header(first, "Retry-After")
    body = json_body(first)
    assert body["error"]["code"] == "model_unavailable"
    assert "Traceback" not in first["body"] and body["request_id"]
    # WHEN S3 is back with the model THEN the next request is served
    endpoint.up()
    publish(endpoint.clients(), model_bytes, metadata)
    second = api.lambda_handler(event, lambda_context)
    assert second["statusCode"] == 200
    assert {"dog", "bicycle"} <= {d["label"] for d in json_body(second)["detections"]}


def test_an_upload_whose_result_cannot_be_written_is_retried_until_it_is(
    handler_env, clients_allowed, monkeypatch, dog_jpg, lambda_context
):
    # GIVEN an upload, and a function role that may read everything but not write results
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="uploads-bucket")
    s3.create_bucket(Bucket="results-bucket")
    put = s3.put_object(Bucket="uploads-bucket", Key="uploads/dog.jpg", Body=dog_jpg.read_bytes())
    notification = events.s3_notification(
        "uploads-bucket", "uploads/dog.jpg", etag=put["ETag"].strip('"')
    )
    test_message = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": "uploads-bucket"}
    batch = events.sqs_event([notification, test_message])
    role = ["s3:GetObject", "s3:ListBucket", "kms:Decrypt"]
    restricted = clients_allowed(role)  # moto enforces IAM from here on
    access = restricted.s3._request_signer._credentials  # the role's keys, for the handler
    handler_env.setenv("AWS_ACCESS_KEY_ID", access.access_key)
    handler_env.setenv("AWS_SECRET_ACCESS_KEY", access.secret_key)
    handler_env.delenv("AWS_SESSION_TOKEN")
    handler_env.setenv("INPUT_BUCKETS", "uploads-bucket")
    handler_env.setenv("RESULTS_BUCKET", "results-bucket")
    handler = fresh_module("detector.handlers.s3")
    # WHEN the SQS batch is processed THEN the upload's message is reported for a retry
    response = handler.lambda_handler(batch, lambda_context)
    assert response == {"batchItemFailures": [{"itemIdentifier": batch["Records"][0]["messageId"]}]}
    # AND a direct notification fails the invocation, for Lambda to retry it
    with pytest.raises(DetectorError):
        handler.lambda_handler(notification, lambda_context)
    # WHEN writing is allowed and SQS delivers the message again THEN the result is written
    grant(monkeypatch, [*role, "s3:PutObject"])
    assert handler.lambda_handler(batch, lambda_context) == {"batchItemFailures": []}
    monkeypatch.setattr(moto_settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
    result = json.loads(
        s3.get_object(
            Bucket="results-bucket", Key="detections/uploads-bucket/uploads/dog.jpg.json"
        )["Body"].read()
    )
    assert {"dog", "bicycle"} <= {d["label"] for d in result["detections"]}
