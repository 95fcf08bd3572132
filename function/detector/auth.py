"""JWT verification: an ``Authorization`` header in, the caller's claims out, or a typed error.

The algorithm allow-list follows from the kind of key configured: an HMAC secret allows
HS256 only, an RSA key RS256, an EC P-256 key ES256, a JWKS what its keys declare. HMAC and
public-key algorithms are never accepted side by side, which rules out the classic attack
of an HS256 token "signed" with the public key.

Signing tokens is local tooling: ``detector.local.tokens``.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from detector.errors import (
    AuthUnavailableError,
    ConfigurationError,
    DetectorError,
    InsufficientScopeError,
    InvalidTokenError,
    UnauthorizedError,
)
from detector.settings import (
    JWT_ALGORITHMS,
    JWT_JWKS_URL,
    JWT_PUBLIC_KEY,
    JWT_SECRET,
    JWT_SECRET_ID,
    Settings,
)

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

# Real access tokens are well under 2 kB; anything far larger is refused before parsing.
MAX_TOKEN_BYTES = 8 * 1024
# HS256 with fewer than 256 bits of secret can be brute-forced offline from one token.
MIN_SECRET_BYTES = 32
SECRET_MAX_AGE_SECONDS = 300
JWKS_LIFESPAN_SECONDS = 300.0
# After an unknown `kid` the JWKS is fetched again at most this often: random kids in
# forged tokens must not turn us into a traffic amplifier against the identity provider.
JWKS_REFRESH_COOLDOWN_SECONDS = 30.0
# One deadline for the whole fetch (DNS, connect, TLS, headers, body): a per-read timeout
# lets an endpoint that sends a byte at a time hold a request for ever.
JWKS_DEADLINE_SECONDS = 3.0
# After a failed fetch, requests are answered 503 at once for this long (the Retry-After
# the API sends): a slow endpoint costs one request the deadline, not every request.
JWKS_RETRY_SECONDS = 5.0
# Identity providers publish a few kB (a handful of keys); a body past this is refused.
JWKS_MAX_BYTES = 256 * 1024
REALM = "detector"

HMAC_ALGORITHMS = frozenset({"HS256"})
PUBLIC_KEY_ALGORITHMS = frozenset({"RS256", "ES256"})

_JWT_ERROR_MESSAGES: tuple[tuple[type[jwt.PyJWTError], str], ...] = (
    (jwt.ExpiredSignatureError, "the token has expired"),
    (jwt.ImmatureSignatureError, "the token is not valid yet"),
    (jwt.InvalidIssuedAtError, "the token's iat claim is not a valid time"),
    (jwt.InvalidIssuerError, "the token was issued by another issuer"),
    (jwt.InvalidAudienceError, "the token is meant for another audience"),
    (jwt.InvalidAlgorithmError, "the token's algorithm is not allowed"),
    (jwt.InvalidSignatureError, "the token's signature does not verify"),
    (jwt.DecodeError, "the token is malformed"),
)


@dataclass(frozen=True)
class Claims:
    """The verified token: who called, with which scopes."""

    subject: str | None
    scopes: frozenset[str]
    claims: Mapping[str, Any]


class KeySource(Protocol):
    """Where the verification key comes from; also decides which algorithms it allows."""

    algorithms: frozenset[str]

    def key_for(self, token: str, header: Mapping[str, Any]) -> tuple[Any, list[str]]:
        """The key to verify ``token`` with, and the algorithms allowed for that key."""
        ...


class StaticKey:
    """A key known up front: a local HS256 secret or a PEM public key."""

    def __init__(self, key: Any, algorithms: frozenset[str]) -> None:
        self._key = key
        self.algorithms = algorithms

    def key_for(self, token: str, header: Mapping[str, Any]) -> tuple[Any, list[str]]:
        return self._key, sorted(self.algorithms)


class SecretsManagerKey:
    """The HS256 secret in Secrets Manager, read through Powertools and cached."""

    def __init__(
        self, secret_id: str, algorithms: frozenset[str], provider: SecretsProvider
    ) -> None:
        self._secret_id = secret_id
        self._provider = provider
        self.algorithms = algorithms

    def key_for(self, token: str, header: Mapping[str, Any]) -> tuple[Any, list[str]]:
        # Imported here (as the provider is): only this key source uses Powertools' parameters.
        from aws_lambda_powertools.utilities.parameters.exceptions import (  # noqa: PLC0415
            GetParameterError,
        )

        try:
            secret = self._provider.get(self._secret_id, max_age=SECRET_MAX_AGE_SECONDS)
        except GetParameterError:
            raise AuthUnavailableError("the token signing secret could not be read") from None
        if not isinstance(secret, str | bytes):
            raise ConfigurationError("the token signing secret must be a plain string")
        return checked_secret(secret), sorted(self.algorithms)


class JwksKey:
    """Public keys from a JWKS endpoint, cached, picked by the token's ``kid``.

    Any failure to get a usable key set (unreachable, slow, an HTTP error or a redirect, a
    body too large, not JSON, no usable key) is an ``AuthUnavailableError`` (503, retry);
    only a token naming a key the set does not hold is an ``InvalidTokenError``.
    """

    def __init__(
        self,
        url: str,
        algorithms: frozenset[str],
        *,
        cooldown_seconds: float = JWKS_REFRESH_COOLDOWN_SECONDS,
        deadline_seconds: float = JWKS_DEADLINE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{JWT_JWKS_URL} must be an http(s) URL")
        self._url = url
        self.algorithms = algorithms
        self._cooldown = cooldown_seconds
        self._deadline = deadline_seconds
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = -float("inf")  # last successful fetch
        self._attempted_at = -float("inf")  # last fetch, successful or not
        self._failure: AuthUnavailableError | None = None  # of the last fetch
        self._lock = threading.Lock()

    def key_for(self, token: str, header: Mapping[str, Any]) -> tuple[Any, list[str]]:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidTokenError("the token has no key id (kid)")
        with self._lock:
            now = self._clock()
            if now - self._fetched_at >= JWKS_LIFESPAN_SECONDS:
                self._refresh(now)
            elif kid not in self._keys and now - self._attempted_at >= self._cooldown:
                self._refresh(now)  # perhaps a key rotated in since we fetched
            key = self._keys.get(kid)
        if key is None:
            raise InvalidTokenError("the token's key id is unknown")
        # A JWK may declare its own algorithm; the token must use exactly that one.
        allowed = self.algorithms & {key.algorithm_name}
        return key, sorted(allowed)

    def _refresh(self, now: float) -> None:
        if self._failure is not None and now - self._attempted_at < JWKS_RETRY_SECONDS:
            raise self._failure
        self._attempted_at = now
        try:
            body = http_get(self._url, deadline_seconds=self._deadline, max_bytes=JWKS_MAX_BYTES)
            keys = signing_keys(body, self.algorithms)
        except JwksError as error:
            # The keys fetched before stay in use until their lifespan ends, no longer.
            self._failure = AuthUnavailableError(
                f"the token signing keys could not be fetched: {error}; retry later"
            )
            raise self._failure from None
        self._keys, self._fetched_at, self._failure = keys, now, None


class JwksError(Exception):
    """Why the JWKS could not be had, in a few words of ours (never the endpoint's)."""


def http_get(url: str, *, deadline_seconds: float, max_bytes: int) -> bytes:
    """The body of a 200 answer to ``GET url``, all of it within ``deadline_seconds``.

    Socket timeouts bound each read, not the whole answer, so the request runs in a worker
    thread that the caller waits for at most the deadline; then the connection is shut
    down, which ends any read the worker is blocked in. (Connecting and the TLS handshake
    are bounded by the socket timeout, the deadline too; DNS by the resolver's own.)
    Redirects are not followed (configure the final URL); TLS certificates are verified.
    Raises ``JwksError``.
    """
    parts = urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "", parts.port, timeout=deadline_seconds)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    outcome: list[bytes | JwksError] = []
    # A duplicate of the connection's socket: shutting it down reaches the connection even
    # once http.client has handed the socket over to the response.
    held: list[socket.socket] = []
    abandoned = threading.Event()

    def fetch() -> None:
        try:
            connection.connect()
            held.append(connection.sock.dup())
            if not abandoned.is_set():  # the caller gave up while we connected
                connection.request("GET", target, headers={"Accept": "application/json"})
                outcome.append(_body(connection.getresponse(), max_bytes))
        except JwksError as error:
            outcome.append(error)
        except (OSError, http.client.HTTPException) as error:  # ssl.SSLError is an OSError
            outcome.append(JwksError(f"the JWKS endpoint failed ({type(error).__name__})"))
        finally:
            connection.close()
            for sock in held:
                sock.close()

    worker = threading.Thread(target=fetch, name="jwks-fetch", daemon=True)
    worker.start()
    worker.join(deadline_seconds)
    if worker.is_alive():
        abandoned.set()
        for sock in held:
            with suppress(OSError):  # closed by the worker meanwhile
                sock.shutdown(socket.SHUT_RDWR)
        raise JwksError(f"the JWKS endpoint gave no complete answer within {deadline_seconds:g} s")
    [result] = outcome
    if isinstance(result, JwksError):
        raise result
    return result


def _body(response: http.client.HTTPResponse, max_bytes: int) -> bytes:
    if response.status != 200:
        raise JwksError(f"the JWKS endpoint answered HTTP {response.status}")
    declared = response.getheader("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise JwksError(f"the JWKS is over {max_bytes} bytes")
    body = response.read(max_bytes + 1)
    if len(body) > max_bytes:
        raise JwksError(f"the JWKS is over {max_bytes} bytes")
    if response.length:  # http.client returns a body cut short of its Content-Length as is
        raise JwksError("the JWKS answer was cut short")
    return body


# What pyjwt reads of a public JWK, which it trusts to be strings; and what only a private
# key holds, which has no place in a set of verification keys.
_JWK_TEXT_FIELDS = ("kty", "kid", "alg", "use", "crv", "n", "e", "x", "y")
_JWK_PRIVATE_FIELDS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def signing_keys(body: bytes, algorithms: frozenset[str]) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS document, by ``kid``; raises ``JwksError``.

    Keys we cannot use (another type, private, malformed, for encryption) are left out;
    a set with none left is an error.
    """
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise JwksError("the JWKS is not JSON") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise JwksError('the JWKS has no "keys" list')
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries:
        key = _signing_key(entry)
        if key is not None and key.algorithm_name in algorithms:
            keys.setdefault(entry["kid"], key)
    if not keys:
        raise JwksError(f"the JWKS holds no usable {'/'.join(sorted(algorithms))} signing key")
    return keys


def _signing_key(entry: Any) -> jwt.PyJWK | None:
    if not isinstance(entry, dict) or entry.get("kty") not in ("RSA", "EC"):
        return None
    if not all(isinstance(entry.get(name), str | None) for name in _JWK_TEXT_FIELDS):
        return None
    if not entry.get("kid") or entry.get("use", "sig") != "sig":
        return None
    if any(name in entry for name in _JWK_PRIVATE_FIELDS):
        return None
    try:
        return jwt.PyJWK(entry)
    except (jwt.PyJWTError, ValueError, TypeError):
        return None


class TokenVerifier:
    """Verifies bearer tokens against one key source; build one per cold start."""

    def __init__(
        self,
        source: KeySource,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        required_scope: str | None = None,
        leeway_seconds: int = 30,
    ) -> None:
        self._source = source
        self._issuer = issuer
        self._audience = audience
        self.required_scope = required_scope
        self._leeway = leeway_seconds

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        secrets_provider: SecretsProvider | None = None,
        jwks_cooldown_seconds: float = JWKS_REFRESH_COOLDOWN_SECONDS,
    ) -> TokenVerifier:
        """The verifier the settings describe; exactly one key source must be configured."""
        return cls(
            _key_source(settings, secrets_provider, jwks_cooldown_seconds),
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            required_scope=settings.jwt_required_scope,
            leeway_seconds=settings.jwt_leeway_seconds,
        )

    def prefetch(self) -> None:
        """Read a Secrets Manager secret now rather than at the first token (a SnapStart
        restore does it before its first request); other key sources have nothing to read
        up front (a JWKS is fetched for the first token's key id)."""
        if isinstance(self._source, SecretsManagerKey):
            self._source.key_for("", {})

    def verify(self, authorization: str | None) -> Claims:
        """Check an ``Authorization`` header value; raise a 401/403/503 error otherwise."""
        token = bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError("the token is malformed") from None
        alg = header.get("alg")
        # alg can be any JSON value; a list or object must not reach the set lookup.
        if not isinstance(alg, str) or alg not in self._source.algorithms:
            raise InvalidTokenError("the token's algorithm is not allowed")
        key, algorithms = self._source.key_for(token, header)
        claims = self._decode(token, key, algorithms)
        scopes = scopes_of(claims)
        if self.required_scope and self.required_scope not in scopes:
            raise InsufficientScopeError(f"the token lacks the {self.required_scope} scope")
        subject = claims.get("sub")
        return Claims(
            subject=subject if isinstance(subject, str) else None, scopes=scopes, claims=claims
        )

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> dict[str, Any]:
        required = ["exp", "iat"]
        required += ["iss"] if self._issuer else []
        required += ["aud"] if self._audience else []
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
                options={"require": required, "verify_aud": self._audience is not None},
            )
        except jwt.MissingRequiredClaimError as error:
            raise InvalidTokenError(f"the token lacks the {error.claim} claim") from None
        except jwt.PyJWTError as error:
            raise InvalidTokenError(_jwt_error_message(error)) from None
        return claims


def bearer_token(authorization: str | None) -> str:
    """The token of ``Bearer <token>``; 401 when absent, another scheme, or oversized."""
    if not authorization or not authorization.strip():
        raise UnauthorizedError("a bearer token is required")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
    token = token.strip()
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidTokenError("the token is too large")
    if not token.isascii():
        raise InvalidTokenError("the token is malformed")
    return token


def scopes_of(claims: Mapping[str, Any]) -> frozenset[str]:
    """Scopes from ``scope`` (space-separated, OAuth 2) or ``scp`` (list or string)."""
    scopes: set[str] = set()
    for name in ("scope", "scp"):
        value = claims.get(name)
        if isinstance(value, str):
            scopes.update(value.split())
        elif isinstance(value, list):
            scopes.update(item for item in value if isinstance(item, str))
    return frozenset(scopes)


def challenge(error: DetectorError, required_scope: str | None = None) -> str:
    """The ``WWW-Authenticate`` value for an auth error (RFC 6750, section 3)."""
    parts = [f'realm="{REALM}"']
    if isinstance(error, InsufficientScopeError):
        parts.append('error="insufficient_scope"')
        if required_scope:
            parts.append(f'scope="{required_scope}"')
    elif isinstance(error, InvalidTokenError):
        parts.append('error="invalid_token"')
    if isinstance(error, InvalidTokenError | InsufficientScopeError):
        description = error.message.replace('"', "'")  # a quoted-string may not hold quotes
        parts.append(f'error_description="{description}"')
    return "Bearer " + ", ".join(parts)


def _key_source(
    settings: Settings, secrets_provider: SecretsProvider | None, jwks_cooldown_seconds: float
) -> KeySource:
    configured = {
        JWT_SECRET_ID: settings.jwt_secret_id,
        JWT_SECRET: settings.jwt_secret,
        JWT_PUBLIC_KEY: settings.jwt_public_key,
        JWT_JWKS_URL: settings.jwt_jwks_url,
    }
    chosen = [name for name, value in configured.items() if value]
    if len(chosen) != 1:
        raise ConfigurationError(
            f"token verification needs exactly one of {', '.join(configured)}; "
            f"{'none is' if not chosen else ', '.join(chosen) + ' are'} set"
        )
    if settings.jwt_secret_id:
        if secrets_provider is None:
            from aws_lambda_powertools.utilities.parameters import SecretsProvider  # noqa: PLC0415

            secrets_provider = SecretsProvider()
        algorithms = _allowed(settings, HMAC_ALGORITHMS)
        return SecretsManagerKey(settings.jwt_secret_id, algorithms, secrets_provider)
    if settings.jwt_secret:
        return StaticKey(checked_secret(settings.jwt_secret), _allowed(settings, HMAC_ALGORITHMS))
    if settings.jwt_public_key:
        key, family = _public_key(settings.jwt_public_key)
        return StaticKey(key, _allowed(settings, family))
    assert settings.jwt_jwks_url  # one of the four is set, checked above
    return JwksKey(
        settings.jwt_jwks_url,
        _allowed(settings, PUBLIC_KEY_ALGORITHMS),
        cooldown_seconds=jwks_cooldown_seconds,
    )


def _allowed(settings: Settings, family: frozenset[str]) -> frozenset[str]:
    """The key family's algorithms, narrowed by ``JWT_ALGORITHMS``, never widened."""
    if not settings.jwt_algorithms:
        return family
    wanted = frozenset(settings.jwt_algorithms)
    if not wanted <= family:
        raise ConfigurationError(
            f"{JWT_ALGORITHMS} allows {', '.join(sorted(wanted - family))}, which the configured "
            f"key cannot verify (it allows {', '.join(sorted(family))})"
        )
    return wanted


def _public_key(pem: str) -> tuple[Any, frozenset[str]]:
    # Environment variables often carry PEM with escaped newlines.
    text = pem.replace("\\n", "\n").encode()
    try:
        key = load_pem_public_key(text)
    except ValueError:
        raise ConfigurationError(f"{JWT_PUBLIC_KEY} is not a PEM public key") from None
    if isinstance(key, rsa.RSAPublicKey):
        return key, frozenset({"RS256"})
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return key, frozenset({"ES256"})
    raise ConfigurationError(f"{JWT_PUBLIC_KEY} must be an RSA or EC P-256 public key")


def checked_secret(secret: str | bytes | None) -> bytes:
    """The HS256 secret as bytes; ``ConfigurationError`` when it is under MIN_SECRET_BYTES."""
    raw = secret.encode() if isinstance(secret, str) else secret
    if not raw or len(raw) < MIN_SECRET_BYTES:
        raise ConfigurationError(f"the HS256 secret must be at least {MIN_SECRET_BYTES} bytes")
    return raw


def _jwt_error_message(error: jwt.PyJWTError) -> str:
    # pyjwt's own messages can quote parts of the token; ours never do.
    for kind, message in _JWT_ERROR_MESSAGES:
        if isinstance(error, kind):
            return message
    return "the token is invalid"
