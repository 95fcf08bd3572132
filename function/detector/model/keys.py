"""Where the key of a sealed model comes from.

Two modes (see ``detector.model.artifact``):

- KMS envelope, the production default: ``kms_data_key`` asks KMS for a fresh data key
  bound to the model's encryption context; at run time ``KeyResolver`` has KMS unwrap it,
  which needs nothing but ``kms:Decrypt`` on that key with that context.
- A 256-bit key the user manages, as base64 text: from Secrets Manager or an SSM
  SecureString (read through Powertools' parameters utility, which caches it), or given
  directly from a file or an environment variable for local work.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from detector import aws
from detector.errors import ConfigurationError, KeyAccessError, KeySourceMissingError
from detector.model.artifact import KEY_BYTES, DataKey, Header, KeyWrap, encryption_context
from detector.settings import MODEL_KEY_B64, MODEL_KEY_PARAMETER, MODEL_KEY_SECRET_ID, Settings

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

KEY_CACHE_SECONDS = 300


def generate_key() -> bytes:
    """A new random 256-bit key."""
    return AESGCM.generate_key(bit_length=8 * KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


def decode_key(value: str | bytes, source: str) -> bytes:
    """The 32-byte key in ``value``: base64 text, or (a SecretBinary) the raw bytes.

    Errors name ``source`` and never echo the value.
    """
    if isinstance(value, bytes) and len(value) == KEY_BYTES:
        return value
    try:
        text = value.decode("ascii") if isinstance(value, bytes) else value
        key = base64.b64decode("".join(text.split()), validate=True)
    except (UnicodeDecodeError, binascii.Error, ValueError):
        raise KeyAccessError(f"{source} does not hold a base64-encoded key") from None
    if len(key) != KEY_BYTES:
        raise KeyAccessError(
            f"{source} holds a {len(key)}-byte key; a model key is {KEY_BYTES} bytes "
            "(make one with `detector keygen`)"
        )
    return key


def kms_data_key(kms: aws.KmsClient, key_id: str, model_id: str) -> DataKey:
    """A fresh data key from KMS for sealing one model."""
    generated = aws.kms_generate_data_key(kms, key_id, encryption_context(model_id))
    return DataKey(generated.plaintext, KeyWrap.KMS, generated.wrapped, generated.key_arn)


def user_data_key(key: bytes) -> DataKey:
    """The user's own key for sealing (the format derives a fresh key per artifact from it)."""
    return DataKey(key, KeyWrap.USER_KEY)


@dataclass(frozen=True)
class UserKeySource:
    """Where a user-managed key lives: exactly one of the three."""

    secret_id: str | None = None
    parameter: str | None = None
    # The base64 key itself, for local work; ``value_origin`` names it in errors.
    value: str | None = field(default=None, repr=False)
    value_origin: str = MODEL_KEY_B64

    def __post_init__(self) -> None:
        given = [item for item in (self.secret_id, self.parameter, self.value) if item]
        if len(given) != 1:
            raise ConfigurationError(
                "give exactly one source for the model key: "
                f"{MODEL_KEY_SECRET_ID}, {MODEL_KEY_PARAMETER} or {MODEL_KEY_B64}"
            )

    @classmethod
    def from_settings(cls, settings: Settings) -> UserKeySource | None:
        """The source configured in ``settings``, or None when there is none."""
        sources = (
            settings.model_key_secret_id,
            settings.model_key_parameter,
            settings.model_key_b64,
        )
        if not any(sources):
            return None
        return cls(*sources)

    @classmethod
    def from_options(
        cls,
        *,
        key_file: Path | None = None,
        key_env: str | None = None,
        secret_id: str | None = None,
        parameter: str | None = None,
    ) -> UserKeySource | None:
        """The source the command line names (a file, a variable, a secret, a parameter)."""
        if key_file:
            try:
                return cls(value=key_file.read_text(), value_origin=str(key_file))
            except OSError as exc:
                raise ConfigurationError(f"cannot read {key_file}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise ConfigurationError(
                    f"{key_file} is not a key file: it should hold the base64 text of the key"
                ) from None
        if key_env:
            value = os.environ.get(key_env)
            if not value:
                raise ConfigurationError(f"the environment variable {key_env} is not set")
            return cls(value=value, value_origin=f"environment variable {key_env}")
        if secret_id or parameter:
            return cls(secret_id=secret_id, parameter=parameter)
        return None

    def describe(self) -> str:
        if self.secret_id:
            return f"Secrets Manager secret {self.secret_id!r}"
        if self.parameter:
            return f"SSM parameter {self.parameter!r}"
        return self.value_origin


class KeyResolver:
    """Finds the data key for a sealed header (an ``artifact.KeyResolver``)."""

    def __init__(
        self,
        clients: aws.AwsClients,
        user_key: UserKeySource | None = None,
        *,
        max_age: int = KEY_CACHE_SECONDS,
    ) -> None:
        self._clients = clients
        self._user_key = user_key
        self._max_age = max_age
        self._secrets: SecretsProvider | None = None
        self._parameters: SSMProvider | None = None

    def __call__(self, header: Header) -> bytes:
        # The header parser guarantees a KMS key id exactly when the key is KMS-wrapped.
        if header.kms_key_id is not None:
            return aws.kms_decrypt(
                self._clients.kms,
                header.wrapped_key,
                key_id=header.kms_key_id,
                context=header.encryption_context,
            )
        return self.user_key()

    def user_key(self) -> bytes:
        source = self._user_key
        if source is None:
            raise KeySourceMissingError(
                "this model is sealed with a user-managed key, but no key source is "
                f"configured: set {MODEL_KEY_SECRET_ID}, {MODEL_KEY_PARAMETER} "
                f"or (local work only) {MODEL_KEY_B64}"
            )
        value = self._fetch(source) if source.secret_id or source.parameter else source.value
        return decode_key(value or "", source.describe())

    def clear_cache(self) -> None:
        """Forget cached keys, so a corrected secret is read at the next attempt."""
        for provider in (self._secrets, self._parameters):
            if provider is not None:
                provider.clear_cache()  # type: ignore[no-untyped-call]  # Powertools

    def _fetch(self, source: UserKeySource) -> str | bytes:
        # Imported here (as the providers are): only these key modes use Powertools' parameters.
        from aws_lambda_powertools.utilities.parameters.exceptions import (  # noqa: PLC0415
            GetParameterError,
        )

        try:
            if source.secret_id:
                permission = "secretsmanager:GetSecretValue"
                value = self._secrets_provider().get(source.secret_id, max_age=self._max_age)
            else:
                permission = "ssm:GetParameter"
                value = self._parameters_provider().get(
                    source.parameter or "", max_age=self._max_age, decrypt=True
                )
        except GetParameterError as exc:
            # Powertools raises its own error while handling botocore's: the context.
            cause = exc.__cause__ or exc.__context__ or exc
            raise aws.key_source_error(cause, source.describe(), permission) from None
        if not isinstance(value, str | bytes):
            raise KeyAccessError(f"{source.describe()} holds no key")
        return value

    def _secrets_provider(self) -> SecretsProvider:
        if self._secrets is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider  # noqa: PLC0415

            self._secrets = SecretsProvider(boto3_client=self._clients.secretsmanager)
        return self._secrets

    def _parameters_provider(self) -> SSMProvider:
        if self._parameters is None:
            from aws_lambda_powertools.utilities.parameters import SSMProvider  # noqa: PLC0415

            self._parameters = SSMProvider(boto3_client=self._clients.ssm)
        return self._parameters
