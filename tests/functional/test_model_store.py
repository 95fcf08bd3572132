"""The cold-start loader against moto: S3, KMS, Secrets Manager, SSM, the /tmp cache."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
from botocore.stub import Stubber

from detector.aws import AwsClients
from detector.errors import ModelUnavailableError
from detector.local.packing import describe_model
from detector.model import keys, store
from detector.model.artifact import Compression, ModelMetadata, seal
from detector.model.store import ModelHolder
from detector.pipeline.engine import Detector
from detector.settings import Settings

MODEL_KEY = "models/yolox-nano.sealed"


@pytest.fixture(scope="module")
def metadata(model_bytes, coco_dir) -> ModelMetadata:
    return describe_model(
        model_bytes,
        names_file=coco_dir / "names.txt",
        family=None,
        model_id="yolox-nano",
        default_id="unused",
    )


@pytest.fixture(scope="module")
def plain_detector(model_bytes) -> Detector:
    return Detector.from_bytes(model_bytes, threads=1)


@pytest.fixture(scope="module")
def plain_result(plain_detector, dog_jpg):
    return plain_detector.detect(dog_jpg.read_bytes())


def assert_same_raw_outputs(detector: Detector, plain: Detector) -> None:
    """The sessions' raw outputs on one input are bit-for-bit the same."""
    tensor = np.random.default_rng(7).uniform(0, 255, (1, 3, 416, 416)).astype(np.float32)
    feed = {plain.info.input_name: tensor}
    (ours,) = detector.session.run(None, feed)
    (theirs,) = plain.session.run(None, feed)
    assert np.array_equal(ours, theirs)


@pytest.fixture
def kms_sealed(clients, kms_key, model_bytes, metadata) -> bytes:
    return seal(model_bytes, keys.kms_data_key(clients.kms, kms_key, metadata.model_id), metadata)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {},
        model_uri=f"s3://models/{MODEL_KEY}",
        model_cache_dir=tmp_path / "cache",
        ort_threads=1,
    )


def put(clients, body: bytes) -> Any:
    return clients.s3.put_object(Bucket="models", Key=MODEL_KEY, Body=body)


def get_object_statuses(clients) -> list[int]:
    """HTTP statuses of the GetObject calls these clients make from now on."""
    statuses: list[int] = []
    clients.s3.meta.events.register(
        "after-call.s3.GetObject",
        lambda http_response, **_: statuses.append(http_response.status_code),
    )
    return statuses


def assert_same_detections(result, expected) -> None:
    assert len(expected.detections) >= 3  # dog, bicycle, car: a test that can fail
    assert np.array_equal(result.detections.boxes, expected.detections.boxes)
    assert np.array_equal(result.detections.scores, expected.detections.scores)
    assert np.array_equal(result.detections.class_ids, expected.detections.class_ids)


@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.name.lower())
def test_a_kms_sealed_model_from_s3_detects_exactly_like_the_plain_file(
    clients,
    bucket,
    kms_key,
    model_bytes,
    metadata,
    settings,
    dog_jpg,
    plain_detector,
    plain_result,
    compression,
):
    # GIVEN the real model sealed under a KMS data key and put in S3
    data_key = keys.kms_data_key(clients.kms, kms_key, metadata.model_id)
    put(clients, seal(model_bytes, data_key, metadata, compression=compression))
    # WHEN the function's holder loads it
    loaded = ModelHolder(settings, clients=clients).get()
    # THEN its outputs are identical to the plain file's, with the sealed class names
    assert_same_raw_outputs(loaded.detector, plain_detector)
    assert_same_detections(loaded.detector.detect(dog_jpg.read_bytes()), plain_result)
    assert loaded.detector.info.class_names[16] == "dog"
    assert loaded.model_id == "yolox-nano" and loaded.sealed and loaded.fetched_from == "s3"


@pytest.mark.parametrize("source", ["model_key_secret_id", "model_key_parameter", "model_key_b64"])
@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.name.lower())
def test_a_user_key_sealed_model_loads_with_the_key_from_each_source(
    clients,
    bucket,
    model_bytes,
    metadata,
    settings,
    dog_jpg,
    plain_detector,
    plain_result,
    source,
    compression,
):
    key = keys.generate_key()
    encoded = keys.encode_key(key)
    clients.secretsmanager.create_secret(Name="model-key", SecretString=encoded)
    clients.ssm.put_parameter(Name="/model-key", Value=encoded, Type="SecureString")
    value = {"model_key_secret_id": "model-key", "model_key_parameter": "/model-key"}
    configured = replace(settings, **{source: value.get(source, encoded)})
    put(clients, seal(model_bytes, keys.user_data_key(key), metadata, compression=compression))
    loaded = ModelHolder(configured, clients=clients).get()
    assert_same_raw_outputs(loaded.detector, plain_detector)
    assert_same_detections(loaded.detector.detect(dog_jpg.read_bytes()), plain_result)


def test_every_cold_start_step_is_timed(clients, bucket, kms_sealed, settings):
    put(clients, kms_sealed)
    timings = ModelHolder(settings, clients=clients).get().timings_ms
    steps = {"fetch", "read_header", "unwrap_key", "decrypt", "decompress", "session"}
    assert steps | {"cache_write", "total"} == set(timings)
    assert timings["total"] >= sum(timings[step] for step in steps)


def test_each_cold_start_step_runs_in_its_own_trace_subsegment(
    clients, bucket, kms_sealed, settings
):
    # GIVEN a holder with a span opener that records what it opened, and when it closed
    events: list[str] = []

    @contextlib.contextmanager
    def span(name: str) -> Iterator[None]:
        events.append(f"open {name}")
        yield
        events.append(f"close {name}")

    put(clients, kms_sealed)
    # WHEN the model loads from S3
    ModelHolder(settings, clients=clients, span=span).get()
    # THEN fetch, the opening of the sealed bytes and the session each had a subsegment
    assert events == [
        "open ## fetch",
        "close ## fetch",
        "open ## open_sealed",
        "close ## open_sealed",
        "open ## cache_write",
        "close ## cache_write",
        "open ## session",
        "close ## session",
    ]


class Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_cold_start_timings_are_logged(clients, bucket, kms_sealed, settings, monkeypatch):
    # The module's logger, whichever Powertools parent it hangs under in this test session.
    target = logging.getLogger(store.logger.name)
    collected = Collected()
    monkeypatch.setattr(target, "level", logging.INFO)
    target.addHandler(collected)
    try:
        put(clients, kms_sealed)
        loaded = ModelHolder(settings, clients=clients).get()
    finally:
        target.removeHandler(collected)
    (record,) = [r for r in collected.records if r.getMessage() == "model loaded"]
    assert record.__dict__["timings_ms"] == loaded.timings_ms
    assert record.__dict__["model_id"] == "yolox-nano"


def test_a_restarted_container_reuses_the_cached_sealed_bytes(
    clients, bucket, kms_sealed, settings
):
    # GIVEN one container loaded the model (and cached its sealed bytes)
    put(clients, kms_sealed)
    ModelHolder(settings, clients=clients).get()
    cached = list(settings.model_cache_dir.glob("*.sealed"))
    assert [path.read_bytes() for path in cached] == [kms_sealed]  # sealed, never plaintext
    # WHEN the next one starts
    statuses = get_object_statuses(clients)
    loaded = ModelHolder(settings, clients=clients).get()
    # THEN S3 only confirmed the ETag (304): nothing was downloaded
    assert loaded.fetched_from == "cache"
    assert statuses == [304]


def test_a_pinned_version_in_the_cache_needs_no_s3_call_at_all(
    clients, bucket, kms_sealed, settings
):
    version = put(clients, kms_sealed)["VersionId"]
    pinned = replace(settings, model_uri=f"{settings.model_uri}?versionId={version}")
    ModelHolder(pinned, clients=clients).get()
    statuses = get_object_statuses(clients)
    loaded = ModelHolder(pinned, clients=clients).get()
    assert loaded.fetched_from == "cache" and loaded.version_id == version
    assert statuses == []


def test_a_model_replaced_in_s3_replaces_the_cached_copy(
    clients, bucket, kms_key, model_bytes, metadata, kms_sealed, settings
):
    put(clients, kms_sealed)
    ModelHolder(settings, clients=clients).get()
    renamed = ModelMetadata(
        metadata.family, metadata.input_size, metadata.class_names, "yolox-nano-v2"
    )
    put(
        clients,
        seal(model_bytes, keys.kms_data_key(clients.kms, kms_key, "yolox-nano-v2"), renamed),
    )
    loaded = ModelHolder(settings, clients=clients).get()
    assert (loaded.model_id, loaded.fetched_from) == ("yolox-nano-v2", "s3")


def test_a_damaged_cached_copy_is_discarded_and_fetched_again(
    clients, bucket, kms_sealed, settings
):
    # GIVEN a cached copy that was damaged on disk
    put(clients, kms_sealed)
    ModelHolder(settings, clients=clients).get()
    (cached,) = settings.model_cache_dir.glob("*.sealed")
    damaged = bytearray(cached.read_bytes())
    damaged[len(damaged) // 2] ^= 0x40
    cached.write_bytes(bytes(damaged))
    # WHEN the next container starts, THEN it loads from S3 and the cache is sound again
    loaded = ModelHolder(settings, clients=clients).get()
    assert loaded.fetched_from == "s3"
    assert cached.read_bytes() == kms_sealed


def test_a_failed_cold_start_is_retried_by_the_next_call(clients, bucket, kms_sealed, settings):
    holder = ModelHolder(settings, clients=clients)
    # GIVEN no model in S3 yet: the first call fails with the reason, nothing is loaded
    with pytest.raises(ModelUnavailableError, match=f"s3://models/{MODEL_KEY}: no such object"):
        holder.get()
    assert not holder.loaded
    # WHEN the model appears, THEN the next call loads it
    put(clients, kms_sealed)
    assert holder.get().model_id == "yolox-nano"
    assert holder.loaded


def test_a_recheck_drops_a_model_whose_object_has_changed(
    clients, bucket, kms_sealed, settings, model_bytes, kms_key
):
    put(clients, kms_sealed)
    holder = ModelHolder(settings, clients=clients)
    first = holder.get()
    # GIVEN the object unchanged: the model held stays
    assert holder.recheck() is True
    assert holder.get() is first
    # WHEN another model is put at the same key
    other = describe_model(
        model_bytes, names_file=None, family=None, model_id="other", default_id="x"
    )
    put(clients, seal(model_bytes, keys.kms_data_key(clients.kms, kms_key, "other"), other))
    # THEN the recheck drops the model held, and the next get loads the new one
    assert holder.recheck() is False
    assert not holder.loaded
    assert holder.get().model_id == "other"


def test_a_recheck_that_cannot_reach_s3_keeps_the_model(clients, bucket, kms_sealed, settings):
    put(clients, kms_sealed)
    holder = ModelHolder(settings, clients=clients)
    loaded = holder.get()
    clients.s3.delete_object(Bucket="models", Key=MODEL_KEY)  # S3 answers 404
    assert holder.recheck() is True
    assert holder.get() is loaded


def test_a_pinned_version_is_never_rechecked(clients, bucket, kms_sealed, settings):
    version = put(clients, kms_sealed)["VersionId"]
    pinned = replace(settings, model_uri=f"s3://models/{MODEL_KEY}?versionId={version}")
    holder = ModelHolder(pinned, clients=clients)
    loaded = holder.get()
    put(clients, b"a newer object, never looked at")
    calls: list[str] = []
    clients.s3.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    assert holder.recheck() is True
    assert holder.get() is loaded
    assert calls == []


def test_threads_asking_at_once_share_one_load(clients, bucket, kms_sealed, settings):
    put(clients, kms_sealed)
    statuses = get_object_statuses(clients)
    holder = ModelHolder(settings, clients=clients)
    start = threading.Barrier(6)
    results: list[object] = []

    def ask() -> None:
        start.wait()
        results.append(holder.get())

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and all(result is results[0] for result in results)
    assert statuses == [200]  # one download


def test_threads_waiting_on_a_failed_load_share_its_error(clients, bucket, settings):
    holder = ModelHolder(settings, clients=clients)
    statuses = get_object_statuses(clients)
    start = threading.Barrier(4)
    errors: list[str] = []

    def ask() -> None:
        start.wait()
        try:
            holder.get()
        except ModelUnavailableError as error:
            errors.append(error.message)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 4 and len(set(errors)) == 1
    assert 1 <= len(statuses) < 4  # waiting threads did not each try again


def test_a_tampered_artifact_in_s3_is_never_loaded(clients, bucket, kms_sealed, settings):
    tampered = bytearray(kms_sealed)
    tampered[-100] ^= 0x01
    put(clients, bytes(tampered))
    holder = ModelHolder(settings, clients=clients)
    with pytest.raises(ModelUnavailableError, match="failed authentication"):
        holder.get()
    assert not holder.loaded
    assert not list(settings.model_cache_dir.glob("*"))  # refused bytes are not cached


def test_missing_kms_permission_is_explained(
    clients, bucket, kms_sealed, settings, clients_allowed
):
    put(clients, kms_sealed)
    restricted = clients_allowed(["s3:GetObject"])
    with pytest.raises(ModelUnavailableError, match="needs kms:Decrypt with encryption context"):
        ModelHolder(settings, clients=restricted).get()


def test_missing_s3_permission_is_explained(clients, bucket, kms_sealed, settings, clients_allowed):
    put(clients, kms_sealed)
    restricted = clients_allowed(["kms:Decrypt"])
    with pytest.raises(ModelUnavailableError, match=r"access denied .*needs s3:GetObject"):
        ModelHolder(settings, clients=restricted).get()


def test_a_local_sealed_file_loads_with_a_key_from_the_environment(
    tmp_path, model_bytes, metadata, dog_jpg, plain_result
):
    key = keys.generate_key()
    path = tmp_path / "m.sealed"
    path.write_bytes(seal(model_bytes, keys.user_data_key(key), metadata))
    settings = Settings.from_env(
        {"MODEL_URI": str(path), "MODEL_KEY_B64": keys.encode_key(key), "ORT_THREADS": "1"}
    )
    loaded = ModelHolder(settings).get()
    assert (loaded.sealed, loaded.fetched_from) == (True, "file")
    assert_same_detections(loaded.detector.detect(dog_jpg.read_bytes()), plain_result)


def test_a_plain_local_onnx_loads_for_development(model_path, coco_dir, dog_jpg, plain_result):
    settings = Settings.from_env(
        {"MODEL_URI": str(model_path), "MODEL_NAMES_FILE": str(coco_dir / "names.txt")}
    )
    loaded = ModelHolder(settings).get()
    assert not loaded.sealed
    assert loaded.detector.info.class_names[16] == "dog"
    assert_same_detections(loaded.detector.detect(dog_jpg.read_bytes()), plain_result)


@pytest.mark.parametrize(
    ("memory_mb", "ort_threads", "expected"),
    [
        ("1769", None, 1),  # one vCPU's worth: a second thread is only throttled
        ("1024", None, 1),
        ("1769", "2", 2),  # ORT_THREADS wins
    ],
)
def test_a_lambda_function_runs_as_many_threads_as_its_memory_buys(
    model_path, memory_mb, ort_threads, expected
):
    # GIVEN the environment Lambda sets, with the function's memory size
    environment = {"MODEL_URI": str(model_path), "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": memory_mb}
    if ort_threads:
        environment["ORT_THREADS"] = ort_threads
    # WHEN the model is loaded as on a cold start
    session = ModelHolder(Settings.from_env(environment)).get().detector.session
    # THEN onnxruntime runs that many threads
    assert session.get_session_options().intra_op_num_threads == expected


@pytest.mark.parametrize(
    ("environment", "problem"),
    [
        ({}, "MODEL_URI is not set"),
        ({"MODEL_URI": "/nonexistent/m.sealed"}, "no model file at /nonexistent/m.sealed"),
        ({"MODEL_URI": "s3://"}, "not an S3 object URI"),
    ],
)
def test_a_misconfigured_model_uri_is_explained(environment, problem):
    with pytest.raises(ModelUnavailableError, match=problem):
        ModelHolder(Settings.from_env(environment)).get()


def test_a_plain_onnx_is_refused_from_s3(clients, bucket, model_bytes, settings):
    put(clients, model_bytes)
    with pytest.raises(ModelUnavailableError, match="not a sealed model"):
        ModelHolder(settings, clients=clients).get()


def test_a_disabled_kms_key_is_explained(clients, bucket, kms_sealed, settings):
    # moto still decrypts with a disabled key; real KMS answers DisabledException.
    put(clients, kms_sealed)
    kms = boto3.client("kms", region_name="us-east-1")
    stubbed = AwsClients(s3=clients.s3, kms=kms)
    with Stubber(kms) as stub:
        stub.add_client_error("decrypt", "DisabledException", "key is disabled", 400)
        with pytest.raises(ModelUnavailableError, match=r"KMS key arn:aws:kms:.* is disabled"):
            ModelHolder(settings, clients=stubbed).get()
