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
from hypothesis import given
from hypothesis import strategies as st

from detector.auth import TokenVerifier
from detector.errors import InvalidTokenError, UnauthorizedError
from detector.local.tokens import sign_token
from detector.settings import Settings
from tests import tokens
from tests.functional.hostile import fuzz

ALGORITHMS = ["HS256", "HS384", "RS256", "ES256", "PS256", "EdDSA", "none", "None", ""]
HEADER_NAMES = ["alg", "typ", "kid", "crit", "b64", "jku", "jwk", "x5u", "x5c", "cty", "zip"]
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
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
        "HS256": sign_token(tokens.SECRET, subject="alice", scope="detect"),
        "RS256": sign_token(tokens.private_pem(tokens.rsa_private_key()), subject="alice"),
        "ES256": sign_token(tokens.private_pem(tokens.ec_private_key()), subject="alice"),
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


@fuzz(2000)
@given(authorization=st.text(max_size=200) | st.text(max_size=200).map("Bearer ".__add__))
def test_random_authorization_headers_are_refused(verifiers, authorization):
    # GIVEN any text at all as the Authorization header, with or without "Bearer "
    # WHEN / THEN every verifier refuses it with a 401
    for verifier in verifiers.values():
        assert not verified_or_refused(verifier, authorization)


@fuzz(2000)
@given(
    header=st.fixed_dictionaries(
        {"alg": st.sampled_from(ALGORITHMS) | JSON_VALUES},
        optional={name: JSON_VALUES for name in HEADER_NAMES[1:]},
    )
    | JSON_VALUES,
    claims=JSON_VALUES | st.builds(tokens.claims),
    signature=st.binary(max_size=300),
)
def test_forged_tokens_with_any_header_and_claims_are_refused(verifiers, header, claims, signature):
    # GIVEN a well-formed three-part token with any JSON header and claims, a random signature
    token = ".".join([segment(header), segment(claims), segment(signature)])
    # WHEN / THEN no verifier accepts it, and each refuses it with a 401
    for verifier in verifiers.values():
        assert not verified_or_refused(verifier, f"Bearer {token}")


@fuzz(3000)
@given(data=st.data())
def test_mutated_valid_tokens_verify_only_when_their_bytes_are_unchanged(
    verifiers, valid_tokens, data
):
    # GIVEN a valid HS256, RS256 or ES256 token with characters changed, added or removed
    alg = data.draw(st.sampled_from(sorted(valid_tokens)))
    original = valid_tokens[alg]
    chars = list(original)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(chars) - 1))
        kind = data.draw(st.sampled_from(["replace", "insert", "delete"]))
        char = data.draw(st.sampled_from("AZaz09-_.=+/ \t\x00é"))
        if kind == "replace":
            chars[at] = char
        elif kind == "insert":
            chars.insert(at, char)
        else:
            del chars[at]
    mutant = "".join(chars)
    # WHEN it is verified
    verified = verified_or_refused(verifiers[alg], f"Bearer {mutant}")
    # THEN it verifies only if it still decodes to exactly the signed bytes
    # (base64url's unused low bits, and stripped whitespace, can change no content)
    if verified:
        assert segments(mutant.strip()) == segments(original)
