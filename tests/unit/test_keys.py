"""Key parsing and the user-key source rules (no AWS needed)."""

from __future__ import annotations

import base64

import pytest

from detector.aws import AwsClients
from detector.errors import ConfigurationError, KeyAccessError
from detector.model import keys
from detector.settings import Settings


def test_a_generated_key_is_random_and_round_trips_through_base64():
    first, second = keys.generate_key(), keys.generate_key()
    assert len(first) == 32 and first != second
    assert keys.decode_key(keys.encode_key(first), "test") == first


def test_a_key_is_read_from_base64_with_whitespace_or_as_raw_secret_binary():
    key = keys.generate_key()
    assert keys.decode_key(f"  {keys.encode_key(key)}\n", "file k") == key
    assert keys.decode_key(key, "SecretBinary") == key


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("not base64 at all!", "does not hold a base64-encoded key"),
        (base64.b64encode(b"x" * 16).decode(), "holds a 16-byte key; a model key is 32 bytes"),
    ],
)
def test_a_malformed_key_is_refused_without_echoing_it(value, problem):
    with pytest.raises(KeyAccessError, match=problem) as raised:
        keys.decode_key(value, "environment variable K")
    assert value not in raised.value.message
    assert raised.value.message.startswith("environment variable K")


def test_the_user_key_source_comes_from_settings_and_hides_the_key():
    key = keys.encode_key(keys.generate_key())
    source = keys.UserKeySource.from_settings(Settings.from_env({"MODEL_KEY_B64": key}))
    assert source is not None and source.value == key
    assert key not in repr(source)
    assert keys.UserKeySource.from_settings(Settings.from_env({})) is None


def test_two_user_key_sources_at_once_are_a_configuration_error():
    settings = Settings.from_env({"MODEL_KEY_SECRET_ID": "s", "MODEL_KEY_PARAMETER": "/p"})
    with pytest.raises(ConfigurationError, match="exactly one source"):
        keys.UserKeySource.from_settings(settings)


def test_a_user_key_without_any_source_names_the_settings_to_set():
    resolver = keys.KeyResolver(AwsClients(), None)
    with pytest.raises(KeyAccessError, match="MODEL_KEY_SECRET_ID, MODEL_KEY_PARAMETER"):
        resolver.user_key()
