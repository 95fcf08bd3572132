"""Hostile Authorization headers and tokens through the real verifier.

Whatever the header holds, ``verify`` returns claims only for a token that is exactly a
valid one, and otherwise raises ``UnauthorizedError`` (401, ``InvalidTokenError`` is one):
never another exception, which the API would turn into a 500. Derandomised hypothesis
tests with the example counts written here, so a failure reproduces anywhere.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from detector.auth import TokenVerifier, issue_token
from detector.errors import InvalidTokenError, UnauthorizedError
from detector.settings import Settings
from tests import tokens

ALGORITHMS = ["HS256", "HS384", "RS256", "ES256", "PS256", "EdDSA", "none", "None", ""]
HEADER_NAMES = ["alg", "typ", "kid", "crit", "b64", "jku", "jwk", "x5u", "x5c", "cty", "zip"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def fuzz(examples: int) -> settings:
    """A fixed number of examples from a fixed seed (derandomised), no per-example deadline."""
    return settings(
        max_examples=examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


def segment(value: Any) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def segments(token: str) -> list[bytes] | None:
    """The decoded bytes of each segment, or None when one is not base64url."""
    try:
        return [
            base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)) for part in token.split(".")
        ]
    except (binascii.Error, ValueError):
        return None


@pytest.fixture(scope="module")
def verifiers() -> dict[str, TokenVerifier]:
    return {
        "HS256": TokenVerifier.from_settings(Settings(jwt_secret=tokens.SECRET)),
        "RS256": TokenVerifier.from_settings(
            Settings(jwt_public_key=tokens.public_pem(tokens.rsa_private_key()))
        ),
        "ES256": TokenVerifier.from_settings(
            Settings(jwt_public_key=tokens.public_pem(tokens.ec_private_key()))
        ),
    }


@pytest.fixture(scope="module")
def valid_tokens() -> dict[str, str]:
    return {
        "HS256": issue_token(tokens.SECRET, subject="alice", scope="detect"),
        "RS256": issue_token(tokens.private_pem(tokens.rsa_private_key()), subject="alice"),
        "ES256": issue_token(tokens.private_pem(tokens.ec_private_key()), subject="alice"),
    }


def verified_or_refused(verifier: TokenVerifier, authorization: str) -> bool:
    """THEN the verifier returns claims or raises a 401 error; True when it verified."""
    try:
        verifier.verify(authorization)
    except UnauthorizedError:
        return False
    return True


@pytest.mark.parametrize("alg", [["HS256"], {"name": "HS256"}, 256, None, True, 1.5], ids=repr)
def test_a_token_whose_alg_is_not_a_string_is_refused_as_invalid(verifiers, alg):
    # GIVEN a token whose header's alg is a list, an object, a number, null or a boolean
    token = ".".join([segment({"alg": alg, "typ": "JWT"}), segment(tokens.claims()), "c2ln"])
    # WHEN / THEN it is an invalid token (401), not an unexpected error (500)
    with pytest.raises(InvalidTokenError):
        verifiers["HS256"].verify(f"Bearer {token}")
