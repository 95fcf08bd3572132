"""Sealed models with every key mode against moto: round trips and refusals."""

from __future__ import annotations

import os

import pytest

from detector.errors import ArtifactError, KeyAccessError
from detector.model import keys
from detector.model.artifact import (
    Compression,
    KeyWrap,
    ModelMetadata,
    open_sealed,
    read_header,
    seal,
)
from detector.model.keys import KeyResolver, UserKeySource

METADATA = ModelMetadata(
    family="yolox", input_size=(416, 416), class_names=("person",), model_id="yolox-nano"
)


@pytest.fixture
def user_key() -> bytes:
    return keys.generate_key()


@pytest.fixture(params=["secret", "parameter", "value"])
def user_key_source(request, clients, user_key) -> UserKeySource:
    encoded = keys.encode_key(user_key)
    if request.param == "secret":
        clients.secretsmanager.create_secret(Name="model-key", SecretString=encoded)
        return UserKeySource(secret_id="model-key")
    if request.param == "parameter":
        clients.ssm.put_parameter(Name="/model-key", Value=encoded, Type="SecureString")
        return UserKeySource(parameter="/model-key")
    return UserKeySource(value=encoded)


@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.name.lower())
def test_the_real_model_round_trips_with_a_kms_data_key(clients, kms_key, model_bytes, compression):
    data_key = keys.kms_data_key(clients.kms, kms_key, METADATA.model_id)
    sealed = seal(model_bytes, data_key, METADATA, compression=compression)
    header = read_header(sealed)
    assert header.key_wrap is KeyWrap.KMS
    assert header.kms_key_id == kms_key
    assert open_sealed(sealed, KeyResolver(clients)) == model_bytes


@pytest.mark.parametrize("compression", list(Compression), ids=lambda c: c.name.lower())
def test_the_real_model_round_trips_with_a_user_key_from_each_source(
    clients, user_key, user_key_source, model_bytes, compression
):
    sealed = seal(model_bytes, keys.user_data_key(user_key), METADATA, compression=compression)
    assert read_header(sealed).key_wrap is KeyWrap.USER_KEY
    assert open_sealed(sealed, KeyResolver(clients, user_key_source)) == model_bytes


def test_opening_a_kms_sealed_model_needs_only_kms_decrypt(clients, kms_key, clients_allowed):
    model = os.urandom(1000)
    sealed = seal(model, keys.kms_data_key(clients.kms, kms_key, METADATA.model_id), METADATA)
    restricted = clients_allowed(["kms:Decrypt"])
    assert open_sealed(sealed, KeyResolver(restricted)) == model


def test_a_header_renamed_to_another_model_is_refused_by_kms(clients, kms_key):
    # GIVEN a sealed model whose header now claims another model id of the same length
    sealed = seal(
        os.urandom(1000), keys.kms_data_key(clients.kms, kms_key, "model-a"), _named("model-a")
    )
    renamed = sealed.replace(b'"model_id":"model-a"', b'"model_id":"model-b"', 1)
    assert renamed != sealed
    # THEN KMS will not unwrap its key under the other context, and the error says why
    with pytest.raises(KeyAccessError, match=r"model_id='model-b'.*context differs"):
        open_sealed(renamed, KeyResolver(clients))


def test_flipping_any_header_byte_of_a_kms_sealed_model_is_refused(clients, kms_key):
    sealed = seal(
        os.urandom(200), keys.kms_data_key(clients.kms, kms_key, "m"), _named("m"), chunk_size=64
    )
    resolver = KeyResolver(clients)
    for offset in range(read_header(sealed).size):
        tampered = bytearray(sealed)
        tampered[offset] ^= 0x01
        with pytest.raises((ArtifactError, KeyAccessError)):
            open_sealed(bytes(tampered), resolver)


def test_a_user_key_model_opened_with_another_key_says_wrong_key(clients, user_key):
    sealed = seal(os.urandom(1000), keys.user_data_key(user_key), METADATA)
    other = UserKeySource(value=keys.encode_key(keys.generate_key()))
    with pytest.raises(ArtifactError, match="wrong key"):
        open_sealed(sealed, KeyResolver(clients, other))


def _named(model_id: str) -> ModelMetadata:
    return ModelMetadata(family="yolox", input_size=(416, 416), class_names=(), model_id=model_id)
