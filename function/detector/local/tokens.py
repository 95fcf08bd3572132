"""Signed JWTs and signing keys for local work, tests and benchmarks: the other side of
``detector.auth``, which only verifies.

``sign_token`` is the primitive (a key in, a token out); ``mint_token`` is what
``detector token`` does, filling in what is not given from the function's settings or, while
``detector serve`` runs with a secret of its own, from that session.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from detector.auth import HMAC_ALGORITHMS, PUBLIC_KEY_ALGORITHMS, checked_secret
from detector.errors import ConfigurationError
from detector.local import samples
from detector.settings import Settings

# Where a running `detector serve` keeps the random secret it made, for `detector token`:
# readable by this user only, and removed when the server stops.
SESSION_SECRET_FILE = "serve-session-secret"  # noqa: S105 - a file name, not the secret

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def sign_token(
    key: str | bytes,
    *,
    subject: str,
    algorithm: str | None = None,
    scope: str | None = None,
    ttl_seconds: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
    key_id: str | None = None,
    now: float | None = None,
) -> str:
    """A signed JWT: ``key`` is the HS256 secret or a PEM private key (RS256/ES256).

    The algorithm defaults to the one the key implies.
    """
    algorithm = algorithm or _signing_algorithm(key)
    if algorithm not in HMAC_ALGORITHMS | PUBLIC_KEY_ALGORITHMS:
        raise ConfigurationError(f"algorithm must be one of HS256, RS256, ES256, not {algorithm}")
    if algorithm in HMAC_ALGORITHMS:
        key = checked_secret(key)
    issued_at = int(time.time() if now is None else now)
    claims: dict[str, Any] = {"sub": subject, "iat": issued_at, "exp": issued_at + ttl_seconds}
    optional = {"scope": scope, "iss": issuer, "aud": audience}
    claims.update({name: value for name, value in optional.items() if value})
    headers = {"kid": key_id} if key_id else None
    return jwt.encode(claims, key, algorithm=algorithm, headers=headers)


def mint_token(
    *,
    subject: str,
    key_file: Path | None = None,
    secret: str | None = None,
    scope: str | None = None,
    ttl_seconds: int = 3600,
    issuer: str | None = None,
    audience: str | None = None,
    key_id: str | None = None,
) -> str:
    """``sign_token`` for local work: what is not given comes from the settings.

    The key is the PEM in ``key_file``, else ``secret``, else JWT_SECRET, else the secret of
    a running ``detector serve``; issuer and audience default to JWT_ISSUER and JWT_AUDIENCE.
    """
    settings = Settings.from_env()
    key = key_file.read_text() if key_file else secret or settings.jwt_secret
    key = key or session_secret()
    if not key:
        raise ConfigurationError(
            "give --secret or --key, set JWT_SECRET, or start `detector serve` (its session "
            "secret is used while it runs)"
        )
    return sign_token(
        key,
        subject=subject,
        scope=scope or None,
        ttl_seconds=ttl_seconds,
        issuer=issuer or settings.jwt_issuer,
        audience=audience or settings.jwt_audience,
        key_id=key_id,
    )


def session_secret_path() -> Path:
    return samples.cache_dir() / SESSION_SECRET_FILE


def session_secret() -> str | None:
    """The secret of the `detector serve` running now, if it made one."""
    try:
        return session_secret_path().read_text().strip() or None
    except OSError:
        return None


@contextlib.contextmanager
def saved_session_secret(secret: str) -> Iterator[Path]:
    """Keep ``secret`` where ``session_secret`` finds it (mode 0600) until the block ends."""
    path = session_secret_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)  # O_EXCL below: never write through someone's symlink
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(secret + "\n")
    try:
        yield path
    finally:
        # Another server started since then owns the file now: leave its secret.
        if session_secret() == secret:
            path.unlink(missing_ok=True)


def new_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key (RS256)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def new_ec_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 key (ES256)."""
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(key: PrivateKey) -> str:
    """The key as unencrypted PKCS#8 PEM, what ``sign_token`` and ``detector token --key``
    take."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: PrivateKey) -> str:
    """The public half as PEM, what ``JWT_PUBLIC_KEY`` takes."""
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def public_jwk(key: PrivateKey, kid: str) -> dict[str, Any]:
    """The public half as a JWK with its ``kid`` and ``alg``, as a JWKS endpoint lists it."""
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        alg = "RS256"
    else:
        jwk = jwt.algorithms.ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
        alg = "ES256"
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def _signing_algorithm(key: str | bytes) -> str:
    raw = key.encode() if isinstance(key, str) else key
    if not raw.lstrip().startswith(b"-----BEGIN"):
        return "HS256"
    try:
        private_key = load_pem_private_key(raw, password=None)
    except (ValueError, TypeError):
        raise ConfigurationError("the signing key is not an unencrypted PEM private key") from None
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "ES256"
    raise ConfigurationError("the signing key must be an RSA or EC P-256 private key")
