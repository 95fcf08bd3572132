"""The one thin, typed wrapper around the boto3 calls we make.

Every function takes its client as an argument (tests pass moto-backed or stubbed clients)
and turns botocore's errors into ours, with messages that name the bucket, key or KMS key
and say what went wrong: not found, access denied (and which permission), or unavailable.
"""

from __future__ import annotations

import enum
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
)
from botocore.exceptions import (
    ConnectionError as BotocoreConnectionError,
)

from detector.errors import (
    ConfigurationError,
    KeyAccessError,
    PayloadTooLargeError,
    StorageAccessDeniedError,
    StorageError,
    StorageNotFoundError,
    StorageUnavailableError,
)

# boto3 ships no type information; a named alias at least says which client is meant.
S3Client = Any
KmsClient = Any
SecretsManagerClient = Any
SsmClient = Any

# Standard retries (with backoff) and timeouts short enough that a cold start gives up
# before the invocation does, so the next invocation can try again.
CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=60,
    retries={"mode": "standard", "max_attempts": 3},
)

_NOT_FOUND = {
    "NoSuchBucket",
    "NoSuchKey",
    "NoSuchVersion",
    "NotFound",
    "404",
    "ResourceNotFoundException",
    "ParameterNotFound",
    "ParameterVersionNotFound",
}
_NOT_FOUND_DETAIL = {
    "NoSuchBucket": "the bucket does not exist",
    "NoSuchVersion": "no such version of the object",
}
_UNAVAILABLE = {
    "SlowDown",
    "RequestTimeout",
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "ServiceUnavailable",
    "InternalFailure",
}
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "AllAccessDisabled",
    "ExpiredToken",
    "Forbidden",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "UnrecognizedClientException",
    "403",
}
_CREDENTIALS_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)
_UNREACHABLE_ERRORS = (BotocoreConnectionError, HTTPClientError, IncompleteReadError)


@dataclass(frozen=True)
class S3Location:
    """``s3://bucket/key`` with an optional object version."""

    bucket: str
    key: str
    version_id: str | None = None

    @classmethod
    def parse(cls, uri: str) -> S3Location:
        """Parse ``s3://bucket/key[?versionId=...]``; raises ConfigurationError."""
        parts = urlsplit(uri)
        key = parts.path.lstrip("/")
        if parts.scheme != "s3" or not parts.netloc or not key:
            raise ConfigurationError(f"not an S3 object URI (s3://bucket/key): {uri!r}")
        query = parse_qs(parts.query)
        unknown = set(query) - {"versionId"}
        if unknown:
            raise ConfigurationError(f"unknown query parameter in {uri!r}: {sorted(unknown)}")
        versions = query.get("versionId", [])
        return cls(parts.netloc, key, versions[0] if versions else None)

    def __str__(self) -> str:
        version = f"?versionId={self.version_id}" if self.version_id else ""
        return f"s3://{self.bucket}/{self.key}{version}"

    def _args(self) -> dict[str, str]:
        args = {"Bucket": self.bucket, "Key": self.key}
        if self.version_id:
            args["VersionId"] = self.version_id
        return args


@dataclass(frozen=True)
class ObjectInfo:
    """What S3 says about an object (its ETag is quoted, as S3 sends it)."""

    etag: str
    version_id: str | None
    size: int


@dataclass(frozen=True)
class S3Object:
    body: bytes = field(repr=False)
    info: ObjectInfo


class AwsClients:
    """The boto3 clients we use, each created on first use.

    A cold start pays only for the clients it needs; tests pass their own clients.
    """

    def __init__(
        self,
        *,
        session: boto3.session.Session | None = None,
        s3: S3Client | None = None,
        kms: KmsClient | None = None,
        secretsmanager: SecretsManagerClient | None = None,
        ssm: SsmClient | None = None,
    ) -> None:
        self._session = session
        self._clients: dict[str, Any] = {
            name: client
            for name, client in {
                "s3": s3,
                "kms": kms,
                "secretsmanager": secretsmanager,
                "ssm": ssm,
            }.items()
            if client is not None
        }
        self._lock = threading.Lock()

    @property
    def s3(self) -> S3Client:
        return self._client("s3")

    @property
    def kms(self) -> KmsClient:
        return self._client("kms")

    @property
    def secretsmanager(self) -> SecretsManagerClient:
        return self._client("secretsmanager")

    @property
    def ssm(self) -> SsmClient:
        return self._client("ssm")

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                # One session for all clients: each new session reloads botocore's data.
                self._session = self._session or boto3.session.Session()
                try:
                    self._clients[service] = self._session.client(service, config=CLIENT_CONFIG)
                except NoRegionError:
                    raise ConfigurationError(
                        f"no AWS region configured for {service}: set AWS_REGION"
                    ) from None
            return self._clients[service]


# --- S3 --------------------------------------------------------------------------------
def get_object(s3: S3Client, location: S3Location, *, max_bytes: int | None = None) -> S3Object:
    """The object's bytes; raises PayloadTooLargeError past ``max_bytes``, StorageError."""
    try:
        response = s3.get_object(**location._args())
    except (BotoCoreError, ClientError) as exc:
        raise _storage_error(exc, "read", location) from None
    return _read_body(response, location, max_bytes)


def get_object_if_changed(s3: S3Client, location: S3Location, etag: str) -> S3Object | None:
    """The object, or None when its ETag is still ``etag`` (nothing is downloaded)."""
    try:
        response = s3.get_object(**location._args(), IfNoneMatch=etag)
    except ClientError as exc:
        if _status(exc) == 304:
            return None
        raise _storage_error(exc, "read", location) from None
    except BotoCoreError as exc:
        raise _storage_error(exc, "read", location) from None
    return _read_body(response, location, None)


def head_object(s3: S3Client, location: S3Location) -> ObjectInfo:
    try:
        response = s3.head_object(**location._args())
    except (BotoCoreError, ClientError) as exc:
        raise _storage_error(exc, "read", location) from None
    return _info(response, response.get("ContentLength", 0))


def put_object(
    s3: S3Client,
    location: S3Location,
    body: bytes,
    *,
    content_type: str = "application/octet-stream",
    metadata: dict[str, str] | None = None,
) -> ObjectInfo:
    """Write ``body`` at ``location`` (its version id is ignored): the new object's info."""
    try:
        response = s3.put_object(
            Bucket=location.bucket,
            Key=location.key,
            Body=body,
            ContentType=content_type,
            Metadata=metadata or {},
        )
    except (BotoCoreError, ClientError) as exc:
        raise _storage_error(exc, "write", location) from None
    return _info(response, len(body))


def _read_body(response: dict[str, Any], location: S3Location, max_bytes: int | None) -> S3Object:
    size = int(response.get("ContentLength", 0))
    if max_bytes is not None and size > max_bytes:
        response["Body"].close()
        raise PayloadTooLargeError(f"{location} is {size} bytes, over the limit of {max_bytes}")
    try:
        body = response["Body"].read()
    except (BotoCoreError, ClientError) as exc:
        raise _storage_error(exc, "read", location) from None
    if len(body) != size:
        raise StorageUnavailableError(
            f"the download of {location} ended after {len(body)} of {size} bytes; retry"
        )
    return S3Object(body, _info(response, size))


def _info(response: dict[str, Any], size: int) -> ObjectInfo:
    return ObjectInfo(etag=response["ETag"], version_id=response.get("VersionId"), size=size)


def _storage_error(exc: Exception, action: str, location: S3Location) -> StorageError:
    kind, code = _classify(exc)
    permission = "s3:GetObject" if action == "read" else "s3:PutObject"
    if kind is _Kind.NOT_FOUND:
        detail = _NOT_FOUND_DETAIL.get(code, "no such object")
    else:
        detail = _detail(kind, code, exc, "S3", f"{permission} on it")
    return _STORAGE_ERRORS[kind](f"cannot {action} {location}: {detail}")


# --- KMS -------------------------------------------------------------------------------
@dataclass(frozen=True)
class GeneratedDataKey:
    plaintext: bytes = field(repr=False)
    wrapped: bytes
    key_arn: str


def kms_generate_data_key(kms: KmsClient, key_id: str, context: dict[str, str]) -> GeneratedDataKey:
    """A fresh AES-256 data key, plaintext and wrapped under ``key_id`` with ``context``."""
    try:
        response = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
    except (BotoCoreError, ClientError) as exc:
        raise _kms_error(exc, "kms:GenerateDataKey", key_id, context) from None
    return GeneratedDataKey(response["Plaintext"], response["CiphertextBlob"], response["KeyId"])


def kms_decrypt(kms: KmsClient, wrapped: bytes, *, key_id: str, context: dict[str, str]) -> bytes:
    """Unwrap a data key; only ``key_id`` may have wrapped it, and only with ``context``."""
    try:
        response = kms.decrypt(CiphertextBlob=wrapped, KeyId=key_id, EncryptionContext=context)
    except (BotoCoreError, ClientError) as exc:
        raise _kms_error(exc, "kms:Decrypt", key_id, context) from None
    plaintext: bytes = response["Plaintext"]
    return plaintext


def _kms_error(
    exc: Exception, permission: str, key_id: str, context: dict[str, str]
) -> KeyAccessError:
    kind, code = _classify(exc)
    described = ", ".join(f"{name}={value!r}" for name, value in sorted(context.items()))
    prefix = f"KMS key {key_id}"
    specific = {
        "InvalidCiphertextException": (
            f"KMS refused to unwrap the model's data key with encryption context {described}: "
            "the context differs from the one it was sealed with, or the wrapped key is damaged"
        ),
        "IncorrectKeyException": (
            f"the model's data key was not wrapped by {prefix} (it names a different key)"
        ),
        "DisabledException": f"{prefix} is disabled: enable it to load the model",
        "KMSInvalidStateException": (
            f"{prefix} cannot be used in its current state (pending deletion or import?)"
        ),
        "NotFoundException": f"{prefix} does not exist in this account and region",
    }
    if code in specific:
        return KeyAccessError(specific[code])
    detail = _detail(kind, code, exc, "KMS", f"{permission} with encryption context {described}")
    return KeyAccessError(f"cannot use {prefix}: {detail}")


# --- Secrets Manager / SSM (called through Powertools, see detector.model.keys) ----------------
def key_source_error(exc: BaseException, source: str, permission: str) -> KeyAccessError:
    """Describe a failed read of ``source`` (a secret or parameter), without its value."""
    kind, code = _classify(exc)
    if code in {"DecryptionFailure", "InvalidKeyId", "KMSAccessDeniedException"}:
        return KeyAccessError(f"cannot read {source}: its KMS key refused to decrypt it ({code})")
    return KeyAccessError(f"cannot read {source}: {_detail(kind, code, exc, 'AWS', permission)}")


class _Kind(enum.Enum):
    CREDENTIALS = enum.auto()
    UNREACHABLE = enum.auto()
    NOT_FOUND = enum.auto()
    DENIED = enum.auto()
    UNAVAILABLE = enum.auto()
    OTHER = enum.auto()


_CODE_KINDS = {
    **dict.fromkeys(_NOT_FOUND, _Kind.NOT_FOUND),
    **dict.fromkeys(_DENIED, _Kind.DENIED),
    **dict.fromkeys(_UNAVAILABLE, _Kind.UNAVAILABLE),
}
_STORAGE_ERRORS: dict[_Kind, type[StorageError]] = {
    _Kind.CREDENTIALS: StorageAccessDeniedError,
    _Kind.UNREACHABLE: StorageUnavailableError,
    _Kind.NOT_FOUND: StorageNotFoundError,
    _Kind.DENIED: StorageAccessDeniedError,
    _Kind.UNAVAILABLE: StorageUnavailableError,
    _Kind.OTHER: StorageError,
}


def _classify(exc: BaseException) -> tuple[_Kind, str]:
    """What kind of failure ``exc`` is, and its AWS error code (or exception name)."""
    if isinstance(exc, _CREDENTIALS_ERRORS):
        return _Kind.CREDENTIALS, type(exc).__name__
    if isinstance(exc, _UNREACHABLE_ERRORS):
        return _Kind.UNREACHABLE, type(exc).__name__
    if not isinstance(exc, ClientError):
        return _Kind.OTHER, type(exc).__name__
    code = _code(exc)
    fallback = _Kind.UNAVAILABLE if _status(exc) >= 500 else _Kind.OTHER
    return _CODE_KINDS.get(code, fallback), code


def _detail(kind: _Kind, code: str, exc: BaseException, service: str, permission: str) -> str:
    return {
        _Kind.CREDENTIALS: "no usable AWS credentials",
        _Kind.UNREACHABLE: f"{service} is unreachable ({exc}); retry later",
        _Kind.NOT_FOUND: "it does not exist",
        _Kind.DENIED: f"access denied (the caller needs {permission})",
        _Kind.UNAVAILABLE: f"{service} is unavailable ({code}); retry later",
        _Kind.OTHER: f"{code}: {_message(exc)}" if isinstance(exc, ClientError) else code,
    }[kind]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def _message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
