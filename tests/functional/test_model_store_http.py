"""The whole path over real HTTP: `detector pack --upload` then cold starts against a local
S3/KMS endpoint (moto's server on 127.0.0.1), found through botocore's AWS_ENDPOINT_URL."""

from __future__ import annotations

import pytest

from detector.commands import main
from detector.errors import ModelUnavailableError
from detector.local.s3server import LocalAws
from detector.model.store import ModelHolder
from detector.settings import Settings


def test_a_packed_and_uploaded_model_cold_starts_over_http_then_from_the_cache(
    tmp_path, model_path, coco_dir, dog_jpg
):
    with LocalAws() as aws, aws.activated():
        # GIVEN a model sealed under a KMS key and uploaded, with the CLI
        aws.client("s3").create_bucket(Bucket="models")
        key_arn = aws.client("kms").create_key()["KeyMetadata"]["Arn"]
        sealed = tmp_path / "nano.sealed"
        names = str(coco_dir / "names.txt")
        options = ["--kms-key-id", key_arn, "--names", names, "--upload", "s3://models/nano.sealed"]
        assert main(["pack", str(model_path), "-o", str(sealed), *options]) == 0
        settings = Settings.from_env(
            {"MODEL_URI": "s3://models/nano.sealed", "MODEL_CACHE_DIR": str(tmp_path / "cache")}
        )
        # WHEN a container starts, and then another one
        first = ModelHolder(settings).get()
        second = ModelHolder(settings).get()
    # THEN the first downloaded it, the second only had S3 confirm its cached copy
    assert (first.fetched_from, second.fetched_from) == ("s3", "cache")
    assert first.etag is not None and first.etag == second.etag
    # AND both detect the dog
    for loaded in (first, second):
        result = loaded.detector.detect(dog_jpg.read_bytes())
        found = {loaded.detector.info.class_names[i] for i in result.detections.class_ids}
        assert "dog" in found


def test_an_endpoint_that_went_away_is_a_clear_cold_start_failure(tmp_path, monkeypatch):
    # GIVEN the environment of an endpoint that has since shut down (its port is closed)
    with LocalAws() as aws:
        environment = aws.environ()
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env(
        {"MODEL_URI": "s3://models/nano.sealed", "MODEL_CACHE_DIR": str(tmp_path)}
    )
    # WHEN a container starts, THEN it says S3 is unreachable, and will try again
    holder = ModelHolder(settings)
    with pytest.raises(ModelUnavailableError, match="S3 is unreachable"):
        holder.get()
    assert not holder.loaded
