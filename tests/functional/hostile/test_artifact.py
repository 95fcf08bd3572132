"""Hostile artifacts: whatever the bytes, opening ends in one of our errors, never a crash."""

from __future__ import annotations

import json
import os
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from detector.errors import ArtifactError, KeyAccessError
from detector.model.artifact import (
    MAGIC,
    PROLOGUE_SIZE,
    DataKey,
    KeyWrap,
    ModelMetadata,
    open_sealed,
    read_header,
    seal,
)

KEY = DataKey(os.urandom(32), KeyWrap.USER_KEY)
METADATA = ModelMetadata("yolox", (416, 416), ("person", "car"), "hostile")
SEALED = seal(os.urandom(500), KEY, METADATA, chunk_size=64)
HEADER_SIZE = read_header(SEALED).size


def open_with_the_key(data: bytes) -> bytes:
    return open_sealed(data, lambda header: KEY.plaintext)


@settings(max_examples=300, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(
        st.tuples(st.integers(0, len(SEALED) - 1), st.integers(1, 255)),
        min_size=1,
        max_size=8,
        unique_by=lambda edit: edit[0],  # two edits of one byte could cancel out
    )
)
def test_random_edits_anywhere_are_refused(edits):
    mutated = bytearray(SEALED)
    for offset, mask in edits:
        mutated[offset] ^= mask
    with pytest.raises(ArtifactError):
        open_with_the_key(bytes(mutated))


@settings(max_examples=300, derandomize=True)
@given(rest=st.binary(min_size=0, max_size=400))
def test_random_bytes_after_the_signature_are_refused(rest):
    with pytest.raises((ArtifactError, KeyAccessError)):
        open_with_the_key(MAGIC + rest)


@pytest.mark.parametrize(
    "document",
    [
        {"model": {"model_id": 5, "family": "yolox", "input_size": [1, 1], "class_names": []}},
        {"model": {"model_id": "m", "family": "yolox", "input_size": "big", "class_names": []}},
        {"model": {"model_id": "m", "family": "yolox", "input_size": [1, True], "class_names": []}},
        {"model": {"model_id": "m", "family": "yolox", "input_size": [1, 1], "class_names": [1]}},
        {"model": {"model_id": "m", "family": ["yolox"], "input_size": [1, 1], "class_names": []}},
        {"model": [], "kms_key_id": None},
        {"model": {"model_id": "m"}, "kms_key_id": 7},
        [],
        "[" * 100_000 + "]" * 100_000,
    ],
    ids=range(9),
)
def test_a_header_with_malformed_metadata_is_refused(document):
    # GIVEN an authentic prologue whose metadata is replaced (lengths kept consistent)
    encoded = (document if isinstance(document, str) else json.dumps(document)).encode()
    prologue = bytearray(SEALED[:PROLOGUE_SIZE])
    struct.pack_into(">I", prologue, 124, len(encoded))
    forged = bytes(prologue) + encoded + SEALED[HEADER_SIZE:]
    with pytest.raises(ArtifactError, match=r"invalid|not valid JSON"):
        open_with_the_key(forged)
