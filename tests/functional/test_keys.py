"""User-managed keys from Secrets Manager and SSM (moto), through Powertools' cache."""

from __future__ import annotations

import pytest

from detector.errors import KeyAccessError
from detector.model import keys
from detector.model.keys import KeyResolver, UserKeySource


@pytest.fixture
def key() -> bytes:
    return keys.generate_key()


def test_a_key_is_read_from_a_secrets_manager_string(clients, key):
    clients.secretsmanager.create_secret(Name="model-key", SecretString=keys.encode_key(key))
    resolver = KeyResolver(clients, UserKeySource(secret_id="model-key"))
    assert resolver.user_key() == key


def test_a_key_is_read_from_a_secrets_manager_binary(clients, key):
    clients.secretsmanager.create_secret(Name="model-key", SecretBinary=key)
    assert KeyResolver(clients, UserKeySource(secret_id="model-key")).user_key() == key


def test_a_key_is_read_from_an_ssm_secure_string(clients, key):
    clients.ssm.put_parameter(
        Name="/detector/model-key", Value=keys.encode_key(key), Type="SecureString"
    )
    resolver = KeyResolver(clients, UserKeySource(parameter="/detector/model-key"))
    assert resolver.user_key() == key


def test_a_key_read_once_is_served_from_the_cache_until_cleared(clients, key):
    # GIVEN a key read once from Secrets Manager
    clients.secretsmanager.create_secret(Name="model-key", SecretString=keys.encode_key(key))
    resolver = KeyResolver(clients, UserKeySource(secret_id="model-key"))
    resolver.user_key()
    # WHEN the secret disappears, THEN the cached key still serves
    clients.secretsmanager.delete_secret(SecretId="model-key", ForceDeleteWithoutRecovery=True)
    assert resolver.user_key() == key
    # and once the cache is cleared, the next read goes to Secrets Manager again
    resolver.clear_cache()
    with pytest.raises(KeyAccessError, match="'model-key': it does not exist"):
        resolver.user_key()


def test_a_missing_secret_and_parameter_are_named(clients):
    with pytest.raises(KeyAccessError, match="Secrets Manager secret 'absent': it does not"):
        KeyResolver(clients, UserKeySource(secret_id="absent")).user_key()
    with pytest.raises(KeyAccessError, match="SSM parameter '/absent': it does not exist"):
        KeyResolver(clients, UserKeySource(parameter="/absent")).user_key()


def test_missing_permission_names_the_action(clients, key, clients_allowed):
    clients.secretsmanager.create_secret(Name="model-key", SecretString=keys.encode_key(key))
    clients.ssm.put_parameter(Name="/k", Value=keys.encode_key(key), Type="SecureString")
    restricted = clients_allowed(["s3:GetObject"])
    with pytest.raises(KeyAccessError, match="needs secretsmanager:GetSecretValue"):
        KeyResolver(restricted, UserKeySource(secret_id="model-key")).user_key()
    with pytest.raises(KeyAccessError, match="needs ssm:GetParameter"):
        KeyResolver(restricted, UserKeySource(parameter="/k")).user_key()


def test_a_secret_that_is_not_a_key_is_refused_without_echoing_it(clients):
    clients.secretsmanager.create_secret(Name="model-key", SecretString="hunter2")
    with pytest.raises(KeyAccessError, match="not hold a base64-encoded key") as raised:
        KeyResolver(clients, UserKeySource(secret_id="model-key")).user_key()
    assert "hunter2" not in raised.value.message
