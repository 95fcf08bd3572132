"""The one thin, typed wrapper around the boto3 calls we make.

Every function takes its client as an argument (tests pass moto-backed or stubbed clients)
and turns botocore's errors into ours, with messages of our own that name the bucket, key
or KMS key and say what went wrong: not found, access denied (and which permission),
archived, refused, or unavailable. The service's own message is never passed on.

Whether a failure is worth a retry is decided here and nowhere else, from the error code
and HTTP status (one table, below): ``is_transient`` answers it for any error these
functions raise. Only ``StorageUnavailableError`` is transient.
"""

from __future__ import annotations

import enum
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ChecksumError,
    ClientError,
    CredentialRetrievalError,
    EndpointResolutionError,
    FlexibleChecksumError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    NoRegionError,
    ParamValidationError,
    PartialCredentialsError,
    ValidationError,
)
from botocore.exceptions import (
    ConnectionError as BotocoreConnectionError,
)

from detector.errors import (
    ConfigurationError,
    KeyAccessError,
    PayloadTooLargeError,
    StorageAccessDeniedError,
    StorageArchivedError,
    StorageError,
    StorageNotFoundError,
    StorageRefusedError,
    StorageUnavailableError,
)
from detector.settings import S3_MAX_KEY_BYTES  # S3 refuses longer keys: we refuse before asking

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

_CREDENTIALS_ERRORS = (NoCredentialsError, PartialCredentialsError, CredentialRetrievalError)
# The connection failed or the answer arrived damaged: botocore's own retry treats
# ConnectionError and HTTPClientError as transient (retries.standard).
_UNREACHABLE_ERRORS = (
    BotocoreConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ChecksumError,
    FlexibleChecksumError,
)
# botocore refused to send the request at all: the same arguments are refused again.
_INVALID_REQUEST_ERRORS = (ParamValidationError, ValidationError, EndpointResolutionError)


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
    ``renew()`` starts over, for a process restored from a SnapStart snapshot.
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
        self._given = frozenset(self._clients)  # the caller's clients: renew() keeps them
        self._core: botocore.session.Session | None = None  # of the session we made
        self._loader: Any = None  # botocore's parsed service data, kept by renew()
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

    def renew(self) -> None:
        """Forget the clients we made and the session we made them in: the next calls resolve
        credentials anew and open new connections (those in a snapshot lead nowhere, and
        every process restored from it has the same). What was passed in is kept.

        botocore's parsed service data is kept: it is read-only, the same for everyone, and
        reading it again is most of what a new client costs.
        """
        with self._lock:
            for name, client in list(self._clients.items()):
                if name not in self._given:
                    client.close()  # its pooled connections; the client itself is dropped
                    del self._clients[name]
            if self._core is not None:
                self._loader = self._core.get_component("data_loader")
                self._core = None
                self._session = None

    def _new_session(self) -> boto3.session.Session:
        core = botocore.session.Session()
        if self._loader is not None:
            core.register_component("data_loader", self._loader)
        self._core = core
        return boto3.session.Session(botocore_session=core)

    def _client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                # One session for all clients: each new session reloads botocore's data.
                self._session = self._session or self._new_session()
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
    _check_key(location, "read")
    try:
        response = s3.get_object(**location._args())
    except (BotoCoreError, ClientError) as exc:
        raise _storage_error(exc, "read", location) from None
    return _read_body(response, location, max_bytes)


def get_object_if_changed(s3: S3Client, location: S3Location, etag: str) -> S3Object | None:
    """The object, or None when its ETag is still ``etag`` (nothing is downloaded)."""
    _check_key(location, "read")
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
    _check_key(location, "read")
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
    _check_key(location, "write")
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


def list_keys(s3: S3Client, bucket: str, prefix: str = "") -> Iterator[str]:
    """Every key under ``prefix``, in S3's order (ListObjectsV2, page by page); StorageError."""
    try:
        pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                yield item["Key"]
    except (BotoCoreError, ClientError) as exc:
        raise _storage_error(exc, "list", S3Location(bucket, prefix)) from None


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


def _check_key(location: S3Location, action: str) -> None:
    """S3's KeyTooLongError, said before the request (moto, for one, does not enforce it)."""
    size = len(location.key.encode("utf-8", "surrogatepass"))
    if size > S3_MAX_KEY_BYTES:
        raise StorageRefusedError(
            f"cannot {action} {_shown(location)}: the key is {size} bytes, "
            f"over S3's limit of {S3_MAX_KEY_BYTES}"
        )


def _shown(location: S3Location) -> str:
    """``location`` for a message: keys past S3's limit (never real ones) are cut short."""
    if len(location.key) <= S3_MAX_KEY_BYTES:
        return str(location)
    return f"{S3Location(location.bucket, location.key[:64])}... ({len(location.key)} characters)"


def _storage_error(exc: Exception, action: str, location: S3Location) -> StorageError:
    kind, code = _classify(exc)
    permission = _S3_PERMISSIONS[action]
    if code in _S3_DETAIL:
        detail = _S3_DETAIL[code]
    elif kind is _Kind.DENIED and code.startswith("KMS."):
        detail = f"the object's KMS key cannot be used ({code})"
    elif kind is _Kind.NOT_FOUND:
        detail = "no such object"
    else:
        detail = _detail(kind, code, exc, "S3", f"{permission} on it")
    return _STORAGE_ERRORS[kind](f"cannot {action} {_shown(location)}: {detail}")


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


# --- which failures are worth a retry: the one table -----------------------------------
class _Kind(enum.Enum):
    """What went wrong, as far as the caller and a retry are concerned."""

    NOT_FOUND = enum.auto()  # permanent: no such bucket, object, version, key, secret
    DENIED = enum.auto()  # permanent: our role may not (or the object's KMS key refuses)
    ARCHIVED = enum.auto()  # permanent until someone restores the object
    REFUSED = enum.auto()  # permanent: the same request is refused again (key too long, ...)
    UNAVAILABLE = enum.auto()  # transient: throttled, timed out, the service's own fault
    UNREACHABLE = enum.auto()  # transient: no connection, or the answer arrived damaged
    NO_CREDENTIALS = enum.auto()  # transient: the runtime's credentials are missing or stale


_TRANSIENT_KINDS = frozenset({_Kind.UNAVAILABLE, _Kind.UNREACHABLE, _Kind.NO_CREDENTIALS})

# Error codes by kind. Sources: the error shapes of botocore's S3, KMS, Secrets Manager and
# SSM service models, S3's documented error code list (API reference, "Error responses"),
# and the codes botocore's standard retry mode treats as throttling or transient
# (botocore.retries.standard; tests/functional/hostile/test_s3_errors.py checks that every
# one of those is transient here and every modelled S3 error is listed).
_CODES_BY_KIND: dict[_Kind, frozenset[str]] = {
    _Kind.UNAVAILABLE: frozenset(
        {
            # botocore's throttling and transient codes
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "RequestThrottledException",
            "TooManyRequestsException",
            "ProvisionedThroughputExceededException",
            "TransactionInProgressException",
            "RequestLimitExceeded",
            "BandwidthLimitExceeded",
            "LimitExceededException",
            "RequestThrottled",
            "SlowDown",
            "PriorRequestNotComplete",
            "EC2ThrottledException",
            "RequestTimeout",
            "RequestTimeoutException",
            # S3: its own failures, and 4xx answers that a new attempt gets past
            "InternalError",
            "ServiceUnavailable",
            "OperationAborted",  # 409: a conflicting operation on the bucket is in progress
            "RequestTimeTooSkewed",  # 403: botocore corrects its clock skew on the next try
            "ExpiredToken",  # 400: the runtime's session credentials are renewed
            "TokenRefreshRequired",
            "BadDigest",  # 400: the body was damaged in transit (botocore retries it too)
            "IncompleteBody",  # 400: the connection was cut during the upload
            "KMS.ThrottlingException",  # SSE-KMS objects: S3 passes KMS's answer on
            "KMS.KMSInternalException",
            "KMS.DependencyTimeoutException",
            # KMS, Secrets Manager, SSM
            "InternalFailure",
            "ServiceUnavailableException",
            "KMSInternalException",
            "DependencyTimeoutException",
            "KeyUnavailableException",
            "InternalServiceError",
            "InternalServerError",
        }
    ),
    _Kind.NOT_FOUND: frozenset(
        {
            "NoSuchBucket",
            "NoSuchKey",
            "NoSuchVersion",
            "NotFound",
            "MethodNotAllowed",  # 405: GET of a version that is a delete marker
            "ResourceNotFoundException",
            "ParameterNotFound",
            "ParameterVersionNotFound",
            "NotFoundException",
        }
    ),
    _Kind.DENIED: frozenset(
        {
            "AccessDenied",
            "AccessDeniedException",
            "AllAccessDisabled",
            "AccountProblem",
            "Forbidden",
            "InvalidAccessKeyId",
            "InvalidPayer",
            "InvalidSecurity",
            "InvalidToken",
            "NotSignedUp",
            "SignatureDoesNotMatch",
            "UnrecognizedClientException",
            "KMSAccessDeniedException",
            "KMS.AccessDeniedException",  # the object's SSE-KMS key: S3 passes KMS's answer on
            "KMS.DisabledException",
            "KMS.NotFoundException",
            "KMS.KMSInvalidStateException",
            "KMS.InvalidKeyUsageException",
        }
    ),
    _Kind.ARCHIVED: frozenset({"InvalidObjectState", "ObjectNotInActiveTierError"}),
    _Kind.REFUSED: frozenset(
        {
            # S3
            "KeyTooLongError",
            "InvalidRequest",
            "InvalidArgument",
            "InvalidBucketName",
            "InvalidBucketState",
            "InvalidURI",
            "InvalidRange",
            "InvalidDigest",
            "InvalidStorageClass",
            "InvalidEncryptionAlgorithmError",
            "InvalidTag",
            "InvalidPart",
            "InvalidPartOrder",
            "InvalidPrefix",
            "InvalidWriteOffset",
            "EncryptionTypeMismatch",
            "EntityTooLarge",
            "EntityTooSmall",
            "InlineDataTooLarge",
            "MetadataTooLarge",
            "RequestHeaderSectionTooLarge",
            "MaxMessageLengthExceeded",
            "MalformedXML",
            "MissingContentLength",
            "PreconditionFailed",
            "PermanentRedirect",  # 301: the bucket is in another region
            "AuthorizationHeaderMalformed",  # 400: likewise, seen through the signature
            "IllegalLocationConstraintException",
            "NotImplemented",  # 501, yet permanent: a header asks for what S3 does not do
            "NoSuchUpload",
            "NoSuchPart",
            "NoSuchAnnotation",
            "TooManyParts",
            "UnsupportedMediaType",
            "IdempotencyParameterMismatch",
            "ObjectAlreadyInActiveTierError",
            "BucketAlreadyExists",
            "BucketAlreadyOwnedByYou",
            "AnnotationLimitExceeded",
            "AnnotationNameTooLong",
            "InvalidAnnotationName",
            # KMS, Secrets Manager, SSM
            "InvalidCiphertextException",
            "IncorrectKeyException",
            "DisabledException",
            "KMSInvalidStateException",
            "InvalidKeyUsageException",
            "InvalidGrantTokenException",
            "DecryptionFailure",
            "InvalidKeyId",
            "InvalidParameterException",
            "InvalidRequestException",
            "ValidationException",
        }
    ),
}
_CODE_KINDS = {code: kind for kind, codes in _CODES_BY_KIND.items() for code in codes}
# A code the table does not list is judged by its HTTP status (see _classify).
_STATUS_KINDS = {
    403: _Kind.DENIED,
    404: _Kind.NOT_FOUND,
    408: _Kind.UNAVAILABLE,
    429: _Kind.UNAVAILABLE,
}
_EXCEPTION_KINDS = (
    (_CREDENTIALS_ERRORS, _Kind.NO_CREDENTIALS),
    (_UNREACHABLE_ERRORS, _Kind.UNREACHABLE),
    (_INVALID_REQUEST_ERRORS, _Kind.REFUSED),
)
_STORAGE_ERRORS: dict[_Kind, type[StorageError]] = {
    _Kind.NOT_FOUND: StorageNotFoundError,
    _Kind.DENIED: StorageAccessDeniedError,
    _Kind.ARCHIVED: StorageArchivedError,
    _Kind.REFUSED: StorageRefusedError,
    _Kind.UNAVAILABLE: StorageUnavailableError,
    _Kind.UNREACHABLE: StorageUnavailableError,
    _Kind.NO_CREDENTIALS: StorageUnavailableError,
}

_S3_PERMISSIONS = {"read": "s3:GetObject", "write": "s3:PutObject", "list": "s3:ListBucket"}
# What S3 means by a permanent code, in our words (its own messages are not passed on).
_S3_DETAIL = {
    "NoSuchBucket": "the bucket does not exist",
    "NoSuchVersion": "no such version of the object",
    "MethodNotAllowed": "that version is a delete marker",
    **dict.fromkeys(
        ("InvalidObjectState", "ObjectNotInActiveTierError"),
        "it is archived (S3 Glacier Flexible Retrieval, Deep Archive or an archive tier): "
        "restore it first",
    ),
    "KeyTooLongError": f"the key is longer than S3's limit of {S3_MAX_KEY_BYTES} bytes",
    "EntityTooLarge": "it is larger than S3 accepts in one request",
    "PermanentRedirect": "the bucket is in another region",
    "AuthorizationHeaderMalformed": "the bucket is in another region",
    "InvalidBucketName": "that is not a valid bucket name",
    "PreconditionFailed": "a precondition of the request does not hold",
}
_SAFE_CODE = re.compile(r"[A-Za-z0-9.]{1,64}")


def is_transient(error: StorageError | BotoCoreError | ClientError) -> bool:
    """Whether the call that failed with ``error`` may succeed if made again later.

    ``error`` is what a function of this module raised (one of our ``StorageError``: only
    ``StorageUnavailableError`` is transient) or botocore's own exception. Transient: no
    connection, a damaged answer, throttling, time-outs, the service's own failures (5xx)
    and the few 4xx answers a new attempt gets past (``RequestTimeout``, ``ExpiredToken``,
    ...). Everything else is permanent: the same request gets the same answer.
    """
    if isinstance(error, StorageError):
        return isinstance(error, StorageUnavailableError)
    return _classify(error)[0] in _TRANSIENT_KINDS


def _classify(exc: BaseException) -> tuple[_Kind, str]:
    """What kind of failure ``exc`` is, and its AWS error code (or exception name).

    A code the table does not list is judged by its HTTP status: 403 denied, 404 not found,
    408 and 429 transient, any other 4xx permanent (S3 says the request itself is wrong,
    and the 4xx answers worth a retry are all listed), 5xx and anything else transient: a
    retry costs little, and a wrongly permanent verdict would lose the upload.
    """
    for classes, kind in _EXCEPTION_KINDS:
        if isinstance(exc, classes):
            return kind, type(exc).__name__
    if not isinstance(exc, ClientError):
        return _Kind.UNAVAILABLE, type(exc).__name__
    code = _code(exc)
    return _CODE_KINDS.get(code) or _status_kind(_status(exc)), code


def _status_kind(status: int) -> _Kind:
    if status in _STATUS_KINDS:
        return _STATUS_KINDS[status]
    return _Kind.REFUSED if 400 <= status < 500 else _Kind.UNAVAILABLE


def _detail(kind: _Kind, code: str, exc: BaseException, service: str, permission: str) -> str:
    """Our description of the failure: never the service's own message, which we do not
    control (it may quote the request) and which can change under us."""
    return {
        _Kind.NO_CREDENTIALS: "no usable AWS credentials; retry later",
        _Kind.UNREACHABLE: f"{service} is unreachable ({exc}); retry later",
        _Kind.NOT_FOUND: "it does not exist",
        _Kind.DENIED: f"access denied (the caller needs {permission})",
        _Kind.ARCHIVED: f"it is archived ({code}): restore it first",
        _Kind.REFUSED: f"{service} refused the request ({code})",
        _Kind.UNAVAILABLE: f"{service} is unavailable ({code}); retry later",
    }[kind]


def _code(exc: ClientError) -> str:
    code = str(exc.response.get("Error", {}).get("Code", "Unknown"))
    # Codes are short identifiers; anything else is not worth repeating in a message.
    return code if _SAFE_CODE.fullmatch(code) else "an unrecognised error code"


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
