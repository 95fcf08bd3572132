"""The errors we raise on purpose.

Each carries a machine-readable ``code``; the API handler maps the classes to HTTP
statuses in one place. Messages are written for the user who will read them and never
contain a secret, a token or a stack trace.

Messages are bounded here, whoever builds them: a value from the request is quoted with
``excerpt`` (a short prefix), and no message is ever longer than ``MAX_MESSAGE_CHARS``. An
error that quoted a class name of a few MB once made a 400 body of 11 MB: past the 6 MB a
Lambda function may return, so API Gateway answered a bare 502 instead.
"""

from __future__ import annotations

# How much of a value from the request a message quotes: enough to recognise it.
MAX_ECHO_CHARS = 40
# No message is longer, whatever it quotes: an error body stays under 3 KB even when
# every character needs a 4-byte UTF-8 sequence or a JSON escape.
MAX_MESSAGE_CHARS = 400


def excerpt(value: str) -> str:
    """``value`` quoted for a message: its first ``MAX_ECHO_CHARS`` characters, by ``repr``.

    ``repr`` escapes control characters, line breaks and lone surrogates, so what a client
    sent can neither break a log line or a header nor fail to encode as UTF-8.
    """
    if len(value) <= MAX_ECHO_CHARS:
        return repr(value)
    return f"{value[:MAX_ECHO_CHARS]!r}... ({len(value):,} characters)"


class DetectorError(Exception):
    """Base of every error this package raises on purpose."""

    code = "internal_error"

    def __init__(self, message: str) -> None:
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 3] + "..."
        super().__init__(message)
        self.message = message


# --- the request was wrong (4xx) -------------------------------------------------------
class BadRequestError(DetectorError):
    """The request is malformed or an option is out of range (400)."""

    code = "bad_request"


class InvalidImageError(BadRequestError):
    """The bytes are not a decodable image of an allowed format (400)."""

    code = "invalid_image"


class UnsupportedMediaTypeError(DetectorError):
    """The body's media type is not one we accept (415)."""

    code = "unsupported_media_type"


class PayloadTooLargeError(DetectorError):
    """The body, or the decoded image, is over a configured limit (413)."""

    code = "too_large"


class UnauthorizedError(DetectorError):
    """No token, or a token that does not verify (401)."""

    code = "unauthorized"


class InvalidTokenError(UnauthorizedError):
    """A token was sent but is malformed, expired, mis-signed or for someone else (401)."""

    code = "invalid_token"


class ForbiddenError(DetectorError):
    """A valid token without the required scope, or a resource we may not touch (403)."""

    code = "forbidden"


class InsufficientScopeError(ForbiddenError):
    """A valid token that lacks the scope the route requires (403)."""

    code = "insufficient_scope"


class NotFoundError(DetectorError):
    """No such route or object (404)."""

    code = "not_found"


class MethodNotAllowedError(DetectorError):
    """The route exists, but not for this HTTP method (405); ``allow`` lists the methods it
    does accept, for the ``Allow`` header."""

    code = "method_not_allowed"

    def __init__(self, message: str, allow: str = "") -> None:
        super().__init__(message)
        self.allow = allow


# --- the model could not be used ----------------------------------------------------------
class ModelError(DetectorError):
    """The model file itself is unusable: not ONNX, or a layout we do not know."""

    code = "model_error"


class ArtifactError(ModelError):
    """A sealed artifact was refused: tampered, truncated, wrong key, unknown version."""

    code = "artifact_error"


class KeyAccessError(DetectorError):
    """The model key could not be obtained (KMS denied, secret missing, ...)."""

    code = "key_access_error"


class KeySourceMissingError(KeyAccessError):
    """The model is sealed with a key of the user's own, and no source for it is configured."""


class StorageError(DetectorError):
    """An S3 call failed (unavailable, access denied, no such object)."""

    code = "storage_error"


class StorageNotFoundError(StorageError):
    """The bucket, the object or the version does not exist."""

    code = "storage_not_found"


class StorageAccessDeniedError(StorageError):
    """The caller's credentials may not do this."""

    code = "storage_access_denied"


class StorageArchivedError(StorageError):
    """The object is in an archive storage class: it must be restored before it can be read."""

    code = "storage_archived"


class StorageRefusedError(StorageError):
    """S3 refused the request for good: a key over 1024 bytes, a bucket in another region..."""

    code = "storage_refused"


class StorageUnavailableError(StorageError):
    """S3 could not be reached, timed out, throttled us or failed on its side: retry later.

    The only storage error worth a retry (``detector.aws.is_transient``).
    """

    code = "storage_unavailable"


class ModelUnavailableError(DetectorError):
    """The model could not be loaded at cold start; the next invocation retries (503)."""

    code = "model_unavailable"


class AuthUnavailableError(DetectorError):
    """The key to verify tokens could not be fetched (JWKS or secret store down, 503)."""

    code = "auth_unavailable"


class ConfigurationError(DetectorError):
    """An environment variable holds a value we cannot use (a deployment bug, 500)."""

    code = "configuration_error"
