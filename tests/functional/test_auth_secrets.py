"""The HS256 secret read from Secrets Manager (moto) through Powertools, cached."""

from __future__ import annotations

import boto3
import pytest
from aws_lambda_powertools.utilities.parameters import SecretsProvider

from detector.auth import TokenVerifier
from detector.errors import AuthUnavailableError, ConfigurationError, InvalidTokenError
from detector.settings import Settings
from tests import tokens

SECRET_ID = "detector/jwt"


def verifier(client) -> TokenVerifier:
    return TokenVerifier.from_settings(
        Settings(jwt_secret_id=SECRET_ID), secrets_provider=SecretsProvider(boto3_client=client)
    )


def test_a_token_signed_with_the_stored_secret_verifies_and_the_secret_is_cached(aws) -> None:
    # GIVEN the secret in Secrets Manager
    client = boto3.client("secretsmanager")
    client.create_secret(Name=SECRET_ID, SecretString=tokens.SECRET)
    checker = verifier(client)

    # WHEN a token is verified, then the secret disappears from the store
    assert checker.verify(f"Bearer {tokens.hs256()}").subject == "tester"
    client.delete_secret(SecretId=SECRET_ID, ForceDeleteWithoutRecovery=True)

    # THEN the next token still verifies from the cached secret
    assert checker.verify(f"Bearer {tokens.hs256(sub='again')}").subject == "again"


def test_a_token_signed_with_another_secret_is_rejected(aws) -> None:
    client = boto3.client("secretsmanager")
    client.create_secret(Name=SECRET_ID, SecretString=tokens.SECRET)

    with pytest.raises(InvalidTokenError, match="signature"):
        verifier(client).verify(f"Bearer {tokens.hs256(secret=tokens.OTHER_SECRET)}")


def test_a_missing_secret_makes_auth_unavailable_without_naming_the_token(aws) -> None:
    token = tokens.hs256()
    with pytest.raises(AuthUnavailableError) as caught:
        verifier(boto3.client("secretsmanager")).verify(f"Bearer {token}")
    assert token not in str(caught.value)


def test_a_stored_secret_that_is_too_short_is_a_configuration_error(aws) -> None:
    client = boto3.client("secretsmanager")
    client.create_secret(Name=SECRET_ID, SecretString="short")

    with pytest.raises(ConfigurationError, match="32 bytes"):
        verifier(client).verify(f"Bearer {tokens.hs256()}")


def test_a_malformed_token_never_reaches_secrets_manager(aws) -> None:
    # No secret exists: were it fetched, the error would be AuthUnavailableError.
    with pytest.raises(InvalidTokenError, match="malformed"):
        verifier(boto3.client("secretsmanager")).verify("Bearer not.a.jwt")
