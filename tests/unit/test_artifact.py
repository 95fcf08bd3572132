"""The sealed-model format: round trips, and every way a damaged artifact is refused."""

from __future__ import annotations

import hashlib
import json
import os
import struct
import tracemalloc
import zlib

import pytest
import zstandard

from detector.errors import ArtifactError, KeyAccessError
from detector.model import artifact
from detector.model.artifact import (
    Compression,
    DataKey,
    KeyWrap,
    ModelMetadata,
    open_sealed,
    read_header,
    seal,
    seal_payload,
)

METADATA = ModelMetadata(
    family="yolox", input_size=(416, 416), class_names=("person", "bicycle"), model_id="nano-1"
)


@pytest.fixture(scope="module")
def user_key() -> DataKey:
    return DataKey(os.urandom(32), KeyWrap.USER_KEY)


def resolver_for(key: DataKey):
    return lambda header: key.plaintext


@pytest.fixture(scope="module")
def small_model() -> bytes:
    """Incompressible bytes, so the payload spans several 64-byte chunks."""
    return os.urandom(300)


@pytest.fixture(scope="module")
def small_sealed(small_model: bytes, user_key: DataKey) -> bytes:
    return seal(small_model, user_key, METADATA, chunk_size=64)


@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.name.lower())
def test_the_real_model_survives_sealing_and_opening(model_bytes, user_key, compression):
    # GIVEN the real YOLOX-Nano sealed with a user key
    sealed = seal(model_bytes, user_key, METADATA, compression=compression)
    # WHEN it is opened with the same key
    timings: dict[str, float] = {}
    opened = open_sealed(sealed, resolver_for(user_key), timings_ms=timings)
    # THEN the very same bytes come out, and every step was timed
    assert opened == model_bytes
    assert set(timings) == {"read_header", "unwrap_key", "decrypt", "decompress"}


def test_the_header_describes_the_model_and_its_payload(model_bytes, user_key):
    sealed = seal(model_bytes, user_key, METADATA, chunk_size=1 << 20)
    header = read_header(sealed)
    assert header.version == artifact.FORMAT_VERSION
    assert header.metadata == METADATA
    assert header.plaintext_length == len(model_bytes)
    assert header.plaintext_sha256 == hashlib.sha256(model_bytes).hexdigest()
    assert header.compression is Compression.ZSTD
    assert header.key_wrap is KeyWrap.USER_KEY
    assert header.chunk_count == 4  # 3.4 MB of compressed model in 1 MiB chunks
    assert header.sealed_length == len(sealed)
    assert header.to_json()["model"]["class_names"] == ["person", "bicycle"]


def test_two_sealings_of_one_model_share_nothing_but_the_format(small_model, user_key):
    first = seal(small_model, user_key, METADATA, chunk_size=64)
    second = seal(small_model, user_key, METADATA, chunk_size=64)
    first_header, second_header = read_header(first), read_header(second)
    assert first_header.salt != second_header.salt
    assert first_header.nonce_prefix != second_header.nonce_prefix
    assert first[first_header.size :] != second[second_header.size :]


def test_the_sealed_file_shares_no_64_byte_run_with_the_plaintext(model_bytes, user_key):
    # Any 64-byte run shared with the plaintext contains a whole 32-byte block of the
    # sealed file at an offset that is a multiple of 32: looking those up is exhaustive.
    sealed = seal(model_bytes, user_key, METADATA)
    planted = os.urandom(1001) + model_bytes[123_457 : 123_457 + 64] + os.urandom(999)
    assert _shares_a_64_byte_run(planted, model_bytes)  # the check finds an unaligned run
    assert not _shares_a_64_byte_run(sealed, model_bytes)


def _shares_a_64_byte_run(candidate: bytes, plaintext: bytes) -> bool:
    blocks = {candidate[i : i + 32] for i in range(0, len(candidate) - 31, 32)}
    return any(plaintext[i : i + 32] in blocks for i in range(len(plaintext) - 31))


@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_flipping_any_byte_of_a_small_artifact_is_refused(small_sealed, user_key, mask):
    # GIVEN a small artifact of several chunks, WHEN any single byte is changed
    for offset in range(len(small_sealed)):
        tampered = bytearray(small_sealed)
        tampered[offset] ^= mask
        # THEN opening it fails, whichever byte it was
        with pytest.raises(ArtifactError):
            open_sealed(bytes(tampered), resolver_for(user_key))


def test_truncating_a_small_artifact_at_any_length_is_refused(small_sealed, user_key):
    for length in range(len(small_sealed)):
        with pytest.raises(ArtifactError):
            open_sealed(small_sealed[:length], resolver_for(user_key))


def test_extra_bytes_after_the_last_chunk_are_refused(small_sealed, user_key):
    with pytest.raises(ArtifactError, match="followed by extra data"):
        open_sealed(small_sealed + b"\0", resolver_for(user_key))


def test_dropping_the_last_chunk_and_fixing_the_lengths_is_refused(small_sealed, user_key):
    # GIVEN an artifact cut at a chunk boundary, with its declared length made to match
    header = read_header(small_sealed)
    last_chunk = header.compressed_length - (header.chunk_count - 1) * header.chunk_size
    shorter = bytearray(small_sealed[: -(last_chunk + artifact.TAG_BYTES)])
    struct.pack_into(">Q", shorter, 114, header.compressed_length - last_chunk)
    # THEN the first chunk already fails: the header, lengths included, is authenticated with
    # every chunk, so lengths cannot be fixed up without the key
    with pytest.raises(ArtifactError, match=r"chunk 1 of \d+ failed authentication"):
        open_sealed(bytes(shorter), resolver_for(user_key))


def test_swapping_two_chunks_is_refused(small_sealed, user_key):
    header = read_header(small_sealed)
    span = header.chunk_size + artifact.TAG_BYTES
    first, second = header.size, header.size + span
    swapped = bytearray(small_sealed)
    swapped[first:second], swapped[second : second + span] = (
        small_sealed[second : second + span],
        small_sealed[first:second],
    )
    with pytest.raises(ArtifactError, match=r"chunk 1 of .* failed authentication"):
        open_sealed(bytes(swapped), resolver_for(user_key))


def test_a_wrong_user_key_is_named_as_such(small_sealed):
    with pytest.raises(ArtifactError, match="wrong key"):
        open_sealed(small_sealed, lambda header: os.urandom(32))


def test_a_key_of_the_wrong_size_is_refused(small_sealed):
    with pytest.raises(KeyAccessError, match="32 bytes"):
        open_sealed(small_sealed, lambda header: b"short")


def test_a_plain_onnx_file_is_not_mistaken_for_a_sealed_model(model_bytes, user_key):
    with pytest.raises(ArtifactError, match=r"not a sealed model.*detector pack"):
        open_sealed(model_bytes, resolver_for(user_key))


def test_an_unknown_format_version_is_refused_with_both_versions_named(small_sealed, user_key):
    future = bytearray(small_sealed)
    struct.pack_into(">H", future, 8, 7)
    with pytest.raises(ArtifactError, match="format version 7; this build reads version 1"):
        open_sealed(bytes(future), resolver_for(user_key))


@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.name.lower())
def test_a_decompression_bomb_is_refused_without_allocating_past_the_declared_size(
    user_key, compression
):
    # GIVEN a validly sealed payload that inflates to 256 MiB but declares 1 MiB
    declared = 1 << 20
    zeros = bytes(256 << 20)
    if compression is Compression.ZSTD:
        # zstd writes the true size (256 MiB) into the frame: a one-shot decompress trusts it
        bomb = zstandard.ZstdCompressor(level=3).compress(zeros)
    else:
        bomb = zlib.compress(zeros, 9)
    sealed = seal_payload(
        bomb,
        plaintext_length=declared,
        plaintext_sha256=hashlib.sha256(zeros[:declared]).hexdigest(),
        key=user_key,
        metadata=METADATA,
        compression=compression,
    )
    del zeros
    # WHEN it is opened under tracemalloc
    tracemalloc.start()
    try:
        with pytest.raises(ArtifactError, match="more than the 1048576 bytes"):
            open_sealed(sealed, resolver_for(user_key))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # THEN nothing much beyond the declared size (plus the small bomb itself) was allocated
    assert peak < declared + 2 * len(bomb) + (256 << 10)


def test_a_payload_shorter_than_declared_is_refused(user_key):
    model = b"x" * 1000
    sealed = seal_payload(
        zlib.compress(model),
        plaintext_length=2000,
        plaintext_sha256=hashlib.sha256(model).hexdigest(),
        key=user_key,
        metadata=METADATA,
        compression=Compression.ZLIB,
    )
    with pytest.raises(ArtifactError, match="1000 bytes, its header declares 2000"):
        open_sealed(sealed, resolver_for(user_key))


def test_a_payload_with_a_different_digest_is_refused(user_key):
    model = b"x" * 1000
    sealed = seal_payload(
        zlib.compress(model),
        plaintext_length=1000,
        plaintext_sha256=hashlib.sha256(b"y" * 1000).hexdigest(),
        key=user_key,
        metadata=METADATA,
        compression=Compression.ZLIB,
    )
    with pytest.raises(ArtifactError, match="sha256"):
        open_sealed(sealed, resolver_for(user_key))


def test_metadata_is_checked_before_anything_is_sealed():
    with pytest.raises(ArtifactError, match="model id"):
        ModelMetadata(family="yolox", input_size=(416, 416), class_names=(), model_id="")
    with pytest.raises(ArtifactError, match="input size"):
        ModelMetadata(family="yolox", input_size=(416, 0), class_names=(), model_id="m")


def test_the_header_json_never_holds_key_material(small_sealed, user_key):
    shown = json.dumps(read_header(small_sealed).to_json())
    assert user_key.plaintext.hex() not in shown
    assert "salt" not in shown and "commitment" not in shown


@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.name.lower())
def test_a_damaged_late_chunk_is_named_even_after_earlier_ones_were_decompressed(
    small_model, user_key, compression
):
    sealed = bytearray(
        seal(small_model, user_key, METADATA, compression=compression, chunk_size=64)
    )
    header = read_header(bytes(sealed))
    sealed[-3] ^= 0x01  # inside the last chunk's tag
    with pytest.raises(ArtifactError, match=f"chunk {header.chunk_count} of {header.chunk_count}"):
        open_sealed(bytes(sealed), resolver_for(user_key))


def test_opening_holds_no_second_copy_of_the_compressed_model(user_key):
    # GIVEN 32 MiB of incompressible model, sealed
    model = os.urandom(32 << 20)
    sealed = seal(model, user_key, METADATA)
    del model
    # WHEN it is opened under tracemalloc
    tracemalloc.start()
    try:
        opened = open_sealed(sealed, resolver_for(user_key))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # THEN little more than the plaintext itself was allocated (chunks are decrypted one by one)
    assert len(opened) == 32 << 20
    assert peak < len(opened) + 4 * artifact.DEFAULT_CHUNK_SIZE
