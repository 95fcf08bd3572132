"""JWT verification with real keys and real tokens: the accepted ones and every negative."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from detector.auth import (
    MAX_TOKEN_BYTES,
    TokenVerifier,
    challenge,
    scopes_of,
)
from detector.errors import (
    AuthUnavailableError,
    ConfigurationError,
    InsufficientScopeError,
    InvalidTokenError,
    UnauthorizedError,
)
from detector.local.jwks import serve_jwks, unused_local_url
from detector.local.tokens import sign_token
from detector.settings import Settings
from tests import tokens

ISSUER = "https://issuer.example.com/tenant"
AUDIENCE = "detector-api"


def hs_verifier(**overrides: object) -> TokenVerifier:
    return TokenVerifier.from_settings(Settings(jwt_secret=tokens.SECRET, **overrides))  # type: ignore[arg-type]


def rs_verifier() -> TokenVerifier:
    return TokenVerifier.from_settings(
        Settings(jwt_public_key=tokens.public_pem(tokens.rsa_private_key()))
    )


def bearer(token: str) -> str:
    return f"Bearer {token}"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assert_rejected(verifier: TokenVerifier, token: str, reason: str) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        verifier.verify(bearer(token))
    assert reason in caught.value.message
    assert token not in caught.value.message


# --- accepted tokens ------------------------------------------------------------------------
def test_a_valid_hs256_token_yields_its_subject_and_scopes() -> None:
    # GIVEN a verifier with a local secret and a token signed with it
    token = tokens.hs256(scope="detect admin")

    # WHEN it is verified
    claims = hs_verifier().verify(bearer(token))

    # THEN the claims come back
    assert claims.subject == "tester"
    assert claims.scopes == {"detect", "admin"}


@pytest.mark.parametrize("make_key", [tokens.rsa_private_key, tokens.ec_private_key])
def test_rs256_and_es256_tokens_verify_against_their_pem_public_key(make_key) -> None:
    key = make_key()
    algorithm = "RS256" if key is tokens.rsa_private_key() else "ES256"
    verifier = TokenVerifier.from_settings(Settings(jwt_public_key=tokens.public_pem(key)))
    token = sign_token(tokens.private_pem(key), subject="svc", algorithm=algorithm)

    assert verifier.verify(bearer(token)).subject == "svc"


def test_a_pem_with_escaped_newlines_from_an_env_var_is_accepted() -> None:
    pem = tokens.public_pem(tokens.rsa_private_key()).replace("\n", "\\n")
    verifier = TokenVerifier.from_settings(Settings(jwt_public_key=pem))
    token = sign_token(tokens.private_pem(tokens.rsa_private_key()), subject="s", algorithm="RS256")

    assert verifier.verify(bearer(token)).subject == "s"


def test_issuer_and_audience_are_accepted_when_they_match() -> None:
    verifier = hs_verifier(jwt_issuer=ISSUER, jwt_audience=AUDIENCE)
    token = tokens.hs256(iss=ISSUER, aud=AUDIENCE)

    assert verifier.verify(bearer(token)).subject == "tester"


def test_a_token_expired_within_the_leeway_is_still_accepted() -> None:
    now = int(time.time())
    token = tokens.hs256(iat=now - 100, exp=now - 10)

    assert hs_verifier(jwt_leeway_seconds=30).verify(bearer(token)).subject == "tester"


@pytest.mark.parametrize("seconds_past", [31, 120, 1800])
def test_a_token_expired_longer_ago_than_the_default_leeway_is_rejected(seconds_past: int) -> None:
    now = int(time.time())
    token = tokens.hs256(iat=now - 3600, exp=now - seconds_past)

    assert_rejected(hs_verifier(), token, "expired")


def test_sign_token_round_trips_with_scope_issuer_audience_and_kid() -> None:
    token = sign_token(
        tokens.SECRET, subject="me", scope="detect", issuer=ISSUER, audience=AUDIENCE, key_id="k1"
    )
    claims = hs_verifier(jwt_issuer=ISSUER, jwt_audience=AUDIENCE).verify(bearer(token))

    assert claims.scopes == {"detect"}
    assert jwt.get_unverified_header(token)["kid"] == "k1"
    assert claims.claims["exp"] - claims.claims["iat"] == 3600


# --- no token at all: 401 without error="invalid_token" ------------------------------------
@pytest.mark.parametrize("header", [None, "", "   ", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
def test_a_missing_token_or_another_scheme_is_unauthorized(header: str | None) -> None:
    with pytest.raises(UnauthorizedError) as caught:
        hs_verifier().verify(header)
    assert not isinstance(caught.value, InvalidTokenError)


def test_the_bearer_scheme_is_case_insensitive() -> None:
    assert hs_verifier().verify(f"bearer {tokens.hs256()}").subject == "tester"


# --- the negative matrix --------------------------------------------------------------------
def test_alg_none_is_rejected() -> None:
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(tokens.claims()).encode())
    assert_rejected(hs_verifier(), f"{header}.{payload}.", "algorithm is not allowed")


def test_hs256_signed_with_the_public_key_is_rejected_by_an_rs256_verifier() -> None:
    # GIVEN the attacker knows the (public) PEM and uses it as an HMAC secret
    pem = tokens.public_pem(tokens.rsa_private_key())
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(tokens.claims()).encode())
    signature = hmac.new(pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    forged = f"{header}.{payload}.{b64url(signature)}"

    # THEN the RS256 verifier refuses the algorithm outright
    assert_rejected(rs_verifier(), forged, "algorithm is not allowed")


@pytest.mark.parametrize("algorithm", ["HS384", "HS512"])
def test_an_hmac_algorithm_outside_the_allow_list_is_rejected(algorithm: str) -> None:
    token = jwt.encode(tokens.claims(), tokens.SECRET, algorithm=algorithm)
    assert_rejected(hs_verifier(), token, "algorithm is not allowed")


def test_an_rs256_token_is_rejected_by_an_hs256_verifier() -> None:
    token = sign_token(tokens.private_pem(tokens.rsa_private_key()), subject="s", algorithm="RS256")
    assert_rejected(hs_verifier(), token, "algorithm is not allowed")


def test_an_es256_token_is_rejected_by_an_rs256_verifier() -> None:
    token = sign_token(tokens.private_pem(tokens.ec_private_key()), subject="s", algorithm="ES256")
    assert_rejected(rs_verifier(), token, "algorithm is not allowed")


def test_an_expired_token_is_rejected() -> None:
    now = int(time.time())
    assert_rejected(hs_verifier(), tokens.hs256(iat=now - 7200, exp=now - 3600), "expired")


def test_a_token_not_valid_yet_is_rejected() -> None:
    token = tokens.hs256(nbf=int(time.time()) + 3600)
    assert_rejected(hs_verifier(), token, "not valid yet")


def test_a_token_issued_in_the_future_is_rejected() -> None:
    now = int(time.time())
    assert_rejected(hs_verifier(), tokens.hs256(iat=now + 3600, exp=now + 7200), "not valid yet")


@pytest.mark.parametrize("claim", ["exp", "iat"])
def test_a_token_missing_a_required_time_claim_is_rejected(claim: str) -> None:
    token = jwt.encode(tokens.claims(**{claim: None}), tokens.SECRET, algorithm="HS256")
    assert_rejected(hs_verifier(), token, f"lacks the {claim} claim")


def test_a_token_without_iss_is_rejected_when_an_issuer_is_configured() -> None:
    assert_rejected(hs_verifier(jwt_issuer=ISSUER), tokens.hs256(), "lacks the iss claim")


def test_a_token_without_aud_is_rejected_when_an_audience_is_configured() -> None:
    assert_rejected(hs_verifier(jwt_audience=AUDIENCE), tokens.hs256(), "lacks the aud claim")


@pytest.mark.parametrize(
    "issuer",
    ["https://evil.example.com/tenant", ISSUER[:-3], ISSUER + "x", ISSUER + "/", ""],
    ids=["other", "prefix", "longer", "trailing-slash", "empty"],
)
def test_a_wrong_issuer_is_rejected_including_a_prefix_of_the_right_one(issuer: str) -> None:
    verifier = hs_verifier(jwt_issuer=ISSUER)
    with pytest.raises(InvalidTokenError):
        verifier.verify(bearer(tokens.hs256(iss=issuer)))


@pytest.mark.parametrize("audience", ["other-api", AUDIENCE[:-1], ["other-api"]])
def test_a_wrong_audience_is_rejected(audience: str | list[str]) -> None:
    assert_rejected(hs_verifier(jwt_audience=AUDIENCE), tokens.hs256(aud=audience), "audience")


def test_a_token_signed_with_another_secret_is_rejected() -> None:
    assert_rejected(
        hs_verifier(), tokens.hs256(secret=tokens.OTHER_SECRET), "signature does not verify"
    )


def test_a_token_whose_payload_was_changed_after_signing_is_rejected() -> None:
    header, _, signature = tokens.hs256().split(".")
    payload = b64url(json.dumps(tokens.claims(sub="admin")).encode())
    assert_rejected(hs_verifier(), f"{header}.{payload}.{signature}", "signature does not verify")


@pytest.mark.parametrize(
    "header",
    ["!!!notbase64", b64url(b"not json"), b64url(b"[1, 2]"), ""],
    ids=["not-base64", "not-json", "not-an-object", "empty"],
)
def test_a_malformed_header_is_rejected(header: str) -> None:
    _, payload, signature = tokens.hs256().split(".")
    assert_rejected(hs_verifier(), f"{header}.{payload}.{signature}", "malformed")


def test_a_token_with_two_segments_is_rejected() -> None:
    header, payload, _ = tokens.hs256().split(".")
    assert_rejected(hs_verifier(), f"{header}.{payload}", "malformed")


def test_a_token_with_four_segments_is_rejected() -> None:
    assert_rejected(hs_verifier(), tokens.hs256() + ".AAAA", "malformed")


def test_an_oversized_token_is_rejected_before_parsing() -> None:
    token = tokens.hs256(padding="x" * MAX_TOKEN_BYTES)
    assert_rejected(hs_verifier(), token, "too large")


def test_a_non_ascii_token_is_rejected() -> None:
    assert_rejected(hs_verifier(), tokens.hs256() + "é", "malformed")


# --- scopes -----------------------------------------------------------------------------------
def test_a_token_without_the_required_scope_is_forbidden() -> None:
    with pytest.raises(InsufficientScopeError):
        hs_verifier(jwt_required_scope="detect").verify(bearer(tokens.hs256(scope="read")))


def test_a_token_without_any_scope_is_forbidden_when_one_is_required() -> None:
    with pytest.raises(InsufficientScopeError):
        hs_verifier(jwt_required_scope="detect").verify(bearer(tokens.hs256(scope=None)))


def test_the_scp_list_form_satisfies_the_required_scope() -> None:
    token = tokens.hs256(scope=None, scp=["read", "detect"])
    assert "detect" in hs_verifier(jwt_required_scope="detect").verify(bearer(token)).scopes


def test_a_scope_is_matched_whole_not_as_a_substring() -> None:
    with pytest.raises(InsufficientScopeError):
        hs_verifier(jwt_required_scope="detect").verify(bearer(tokens.hs256(scope="detector")))


def test_scopes_ignore_values_that_are_not_strings() -> None:
    assert scopes_of({"scope": 7, "scp": ["a", 3, None]}) == {"a"}


# --- JWKS over real HTTP ----------------------------------------------------------------------
def jwks_verifier(url: str, cooldown: float = 30.0) -> TokenVerifier:
    return TokenVerifier.from_settings(Settings(jwt_jwks_url=url), jwks_cooldown_seconds=cooldown)


def rs_token(kid: str, key=None) -> str:
    key = key or tokens.rsa_private_key()
    return sign_token(tokens.private_pem(key), subject="svc", algorithm="RS256", key_id=kid)


def test_a_token_verifies_against_the_matching_jwks_key_and_the_set_is_cached() -> None:
    keys = [tokens.public_jwk(tokens.rsa_private_key(), "rsa-1")]
    keys.append(tokens.public_jwk(tokens.ec_private_key(), "ec-1"))
    with serve_jwks(keys) as server:
        verifier = jwks_verifier(server.url)
        es = sign_token(
            tokens.private_pem(tokens.ec_private_key()),
            subject="e",
            algorithm="ES256",
            key_id="ec-1",
        )
        for _ in range(3):
            assert verifier.verify(bearer(rs_token("rsa-1"))).subject == "svc"
        assert verifier.verify(bearer(es)).subject == "e"

    assert server.fetches == 1


def test_an_unknown_kid_is_rejected_and_refreshes_the_jwks_at_most_once_per_cooldown() -> None:
    with serve_jwks([tokens.public_jwk(tokens.rsa_private_key(), "rsa-1")]) as server:
        verifier = jwks_verifier(server.url)
        verifier.verify(bearer(rs_token("rsa-1")))
        for attempt in range(5):
            with pytest.raises(InvalidTokenError, match="key id is unknown"):
                verifier.verify(bearer(rs_token(f"forged-{attempt}")))

    assert server.fetches == 1


def test_a_rotated_key_is_found_by_refreshing_the_jwks() -> None:
    with serve_jwks([tokens.public_jwk(tokens.rsa_private_key(), "rsa-1")]) as server:
        verifier = jwks_verifier(server.url, cooldown=0)
        verifier.verify(bearer(rs_token("rsa-1")))
        server.keys.append(tokens.public_jwk(tokens.ec_private_key(), "ec-2"))
        token = sign_token(
            tokens.private_pem(tokens.ec_private_key()),
            subject="new",
            algorithm="ES256",
            key_id="ec-2",
        )

        assert verifier.verify(bearer(token)).subject == "new"
    assert server.fetches == 2


def test_a_token_whose_alg_differs_from_its_jwk_is_rejected() -> None:
    # GIVEN an RSA JWK that declares RS256, and a token claiming ES256 with that kid
    with serve_jwks([tokens.public_jwk(tokens.rsa_private_key(), "rsa-1")]) as server:
        token = sign_token(
            tokens.private_pem(tokens.ec_private_key()),
            subject="x",
            algorithm="ES256",
            key_id="rsa-1",
        )
        assert_rejected(jwks_verifier(server.url), token, "algorithm is not allowed")


def test_a_jku_header_pointing_at_another_key_set_is_ignored() -> None:
    # GIVEN an attacker's own key published on their own JWKS, named in the token's jku
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with (
        serve_jwks([tokens.public_jwk(tokens.rsa_private_key(), "rsa-1")]) as ours,
        serve_jwks([tokens.public_jwk(attacker, "rsa-1")]) as theirs,
    ):
        token = jwt.encode(
            tokens.claims(),
            tokens.private_pem(attacker),
            algorithm="RS256",
            headers={"kid": "rsa-1", "jku": theirs.url},
        )

        # THEN the signature is checked against our key set only
        assert_rejected(jwks_verifier(ours.url), token, "signature does not verify")
    assert theirs.fetches == 0


def test_a_jwks_token_without_kid_is_rejected() -> None:
    with serve_jwks([tokens.public_jwk(tokens.rsa_private_key(), "rsa-1")]) as server:
        token = sign_token(
            tokens.private_pem(tokens.rsa_private_key()), subject="x", algorithm="RS256"
        )
        assert_rejected(jwks_verifier(server.url), token, "no key id")


def test_a_jwks_endpoint_that_is_down_makes_auth_unavailable_not_invalid() -> None:
    verifier = jwks_verifier(unused_local_url())
    with pytest.raises(AuthUnavailableError):
        verifier.verify(bearer(rs_token("rsa-1")))


def test_an_hs256_token_never_reaches_the_jwks_endpoint() -> None:
    with serve_jwks([]) as server:
        assert_rejected(jwks_verifier(server.url), tokens.hs256(), "algorithm is not allowed")
    assert server.fetches == 0


# --- configuration ----------------------------------------------------------------------------
def test_no_key_source_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="exactly one"):
        TokenVerifier.from_settings(Settings())


def test_two_key_sources_are_a_configuration_error() -> None:
    settings = Settings(jwt_secret=tokens.SECRET, jwt_jwks_url="https://idp.example.com/jwks")
    with pytest.raises(ConfigurationError, match="exactly one"):
        TokenVerifier.from_settings(settings)


def test_an_allow_list_mixing_hmac_into_a_public_key_is_a_configuration_error() -> None:
    pem = tokens.public_pem(tokens.rsa_private_key())
    with pytest.raises(ConfigurationError, match="HS256"):
        TokenVerifier.from_settings(Settings(jwt_public_key=pem, jwt_algorithms=("RS256", "HS256")))


def test_an_allow_list_may_narrow_the_jwks_algorithms() -> None:
    settings = Settings(jwt_jwks_url=unused_local_url(), jwt_algorithms=("ES256",))
    token = rs_token("rsa-1")
    assert_rejected(TokenVerifier.from_settings(settings), token, "algorithm is not allowed")


def test_a_short_hs256_secret_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="32 bytes"):
        TokenVerifier.from_settings(Settings(jwt_secret="short"))


def test_a_public_key_that_is_not_pem_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="PEM"):
        TokenVerifier.from_settings(Settings(jwt_public_key="not a key"))


def test_a_jwks_url_that_is_not_http_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="http"):
        TokenVerifier.from_settings(Settings(jwt_jwks_url="file:///etc/passwd"))


# --- the WWW-Authenticate challenge -----------------------------------------------------------
def test_the_challenge_for_a_missing_token_has_no_error_code() -> None:
    assert challenge(UnauthorizedError("a bearer token is required")) == 'Bearer realm="detector"'


def test_the_challenge_for_a_bad_token_says_invalid_token() -> None:
    value = challenge(InvalidTokenError("the token has expired"))
    assert value.startswith('Bearer realm="detector", error="invalid_token"')
    assert 'error_description="the token has expired"' in value


def test_the_challenge_for_a_missing_scope_names_the_scope() -> None:
    value = challenge(InsufficientScopeError("the token lacks the detect scope"), "detect")
    assert 'error="insufficient_scope", scope="detect"' in value
