"""The sealed-bytes cache and local model files, without AWS."""

from __future__ import annotations

import logging

import pytest

from detector.aws import S3Location
from detector.errors import ConfigurationError, StorageNotFoundError
from detector.model.store import Fetched, SealedCache, read_local, read_names

LOCATION = S3Location("models", "m.sealed")


def test_the_cache_returns_what_it_stored_for_the_same_object_only(tmp_path):
    cache = SealedCache(tmp_path / "cache")
    cache.store(LOCATION, Fetched(b"sealed", "s3", '"etag"', "v1"))
    assert cache.load(LOCATION) == Fetched(b"sealed", "cache", '"etag"', "v1")
    assert cache.load(S3Location("models", "other.sealed")) is None
    assert cache.load(S3Location("models", "m.sealed", "v2")) is None  # another version
    cache.discard(LOCATION)
    assert cache.load(LOCATION) is None


def test_a_cache_that_cannot_be_written_only_logs_a_warning(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    cache = SealedCache(blocker / "cache")
    with caplog.at_level(logging.WARNING):
        cache.store(LOCATION, Fetched(b"sealed", "s3", '"etag"', None))
    assert "could not cache the sealed model" in caplog.text
    assert cache.load(LOCATION) is None


@pytest.mark.parametrize(
    "metadata",
    [
        "{not json",
        '{"uri": "s3://models/m.sealed", "etag": 5, "version_id": null}',
        '{"uri": "s3://models/m.sealed", "etag": "\\"e\\""}',
        "[" * 100_000,
    ],
    ids=["not-json", "etag-not-text", "no-version-field", "too-deep"],
)
def test_a_cache_entry_with_unusable_metadata_is_a_miss(tmp_path, metadata):
    cache = SealedCache(tmp_path)
    cache.store(LOCATION, Fetched(b"sealed", "s3", '"etag"', None))
    (meta,) = tmp_path.glob("*.json")
    meta.write_text(metadata)
    assert cache.load(LOCATION) is None


def test_class_names_keep_their_line_numbers(tmp_path):
    names = tmp_path / "names.txt"
    names.write_text("person\n\ncar\n\n")
    assert read_names(names) == ("person", "", "car")
    assert read_names(None) is None
    with pytest.raises(ConfigurationError, match="cannot read the class names file"):
        read_names(tmp_path / "absent.txt")


def test_a_missing_local_model_file_is_named(tmp_path):
    with pytest.raises(StorageNotFoundError, match="no model file at"):
        read_local(tmp_path / "absent.sealed")
