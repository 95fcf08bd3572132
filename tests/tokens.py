"""The test session's secrets, keys (generated once) and claim sets for the auth tests.

Keys and PEM/JWK forms come from ``detector.local.tokens``, which benchmarks use too.
"""

from __future__ import annotations

import functools
import time
from typing import Any

import jwt

from detector.local.tokens import new_ec_key, new_rsa_key, private_pem, public_jwk, public_pem

__all__ = [
    "OTHER_SECRET",
    "SECRET",
    "claims",
    "ec_private_key",
    "hs256",
    "private_pem",
    "public_jwk",
    "public_pem",
    "rsa_private_key",
]

SECRET = "local-development-secret-" + "0123456789abcdef" * 3  # 72 bytes: fits HS512 too
OTHER_SECRET = "another-secret-of-the-same-length-" + "0123456789abcdef" * 3

rsa_private_key = functools.cache(new_rsa_key)
ec_private_key = functools.cache(new_ec_key)


def claims(**overrides: Any) -> dict[str, Any]:
    """A valid claim set, one hour left; ``None`` values remove the claim."""
    now = int(time.time())
    base: dict[str, Any] = {"sub": "tester", "iat": now, "exp": now + 3600, "scope": "detect"}
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def hs256(secret: str = SECRET, **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), secret, algorithm="HS256")
