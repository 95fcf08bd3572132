"""Hostile JWKS endpoints (issue 12, class 6): a real HTTP(S) server on 127.0.0.1 answering
with broken, huge, slow or malicious key sets, through the real verifier and API handler.

Whatever the endpoint does, a token verifies, is refused (401), or the answer is 503
``auth_unavailable`` with Retry-After: never another exception (a 500), and never past one
deadline for the whole fetch. The deadline is checked by what the server saw (it had not
finished sending when the verifier gave up, and its client hung up), not by a stopwatch.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given
from hypothesis import strategies as st

from detector import auth
from detector.auth import (
    JWKS_LIFESPAN_SECONDS,
    JWKS_MAX_BYTES,
    JWKS_RETRY_SECONDS,
    PUBLIC_KEY_ALGORITHMS,
    JwksError,
    JwksKey,
    TokenVerifier,
    issue_token,
    signing_keys,
)
from detector.errors import AuthUnavailableError, InvalidTokenError, UnauthorizedError
from detector.local import events
from tests import tokens
from tests.functional.hostile import fuzz
from tests.jwks import RawServer, http_answer, serve_jwks, serve_raw
from tests.lambdas import fresh_module, header, json_body

DEADLINE = 0.5  # seconds; the product's is auth.JWKS_DEADLINE_SECONDS
KID = "rsa-1"


@functools.cache
def _good_jwk() -> dict[str, Any]:
    return tokens.public_jwk(tokens.rsa_private_key(), KID)


def good_jwk() -> dict[str, Any]:
    """The public JWK of the key our tokens are signed with (a fresh copy)."""
    return dict(_good_jwk())


def jwks(*keys: Any, **fields: Any) -> bytes:
    return json.dumps({"keys": list(keys), **fields}).encode()


def token(kid: str = KID) -> str:
    pem = tokens.private_pem(tokens.rsa_private_key())
    return issue_token(pem, subject="svc", algorithm="RS256", key_id=kid)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verifier_for(url: str, clock: Clock | None = None, cooldown: float = 30.0) -> TokenVerifier:
    source = JwksKey(
        url,
        PUBLIC_KEY_ALGORITHMS,
        cooldown_seconds=cooldown,
        deadline_seconds=DEADLINE,
        clock=clock or Clock(),
    )
    return TokenVerifier(source)


def unavailable(verifier: TokenVerifier, kid: str = KID) -> AuthUnavailableError:
    """THEN verification fails as unavailable (503), saying to retry, echoing nothing."""
    with pytest.raises(AuthUnavailableError) as raised:
        verifier.verify(f"Bearer {token(kid)}")
    message = raised.value.message
    assert "retry later" in message and len(message) < 200
    return raised.value


# --- answers that are not a usable key set -----------------------------------------------------
BROKEN_ANSWERS = {
    "html": http_answer(
        b"<html><body>Sign in</body></html>", headers={"Content-Type": "text/html"}
    ),
    "empty key list": http_answer(jwks()),
    "keys a string": http_answer(b'{"keys": "k1"}'),
    "keys an object": http_answer(json.dumps({"keys": {KID: good_jwk()}}).encode()),
    "keys null": http_answer(b'{"keys": null}'),
    "no keys member": http_answer(b'{"jwks": []}'),
    "a list": http_answer(json.dumps([good_jwk()]).encode()),
    "null": http_answer(b"null"),
    "a number": http_answer(b"1e999"),
    "not utf-8": http_answer(b'{"keys": ["\xff\xfe"]}'),
    "nested 100,000 deep": http_answer(b'{"keys": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    "empty body": http_answer(b""),
    "keys of strings": http_answer(jwks("k1", "k2")),
    "a private key": http_answer(jwks({**good_jwk(), "d": "AQAB"})),
    "an encryption key": http_answer(jwks({**good_jwk(), "use": "enc"})),
    "a symmetric key": http_answer(jwks({"kty": "oct", "kid": KID, "k": "c2VjcmV0"})),
    "alg a list": http_answer(jwks({**good_jwk(), "alg": ["RS256"]})),
    "alg an object": http_answer(jwks({**good_jwk(), "alg": {"RS256": True}})),
    "kty a list": http_answer(jwks({**good_jwk(), "kty": ["RSA"]})),
    "n a number": http_answer(jwks({**good_jwk(), "n": 12345})),
    "e not base64": http_answer(jwks({**good_jwk(), "e": "!!!"})),
    "an algorithm we do not allow": http_answer(jwks({**good_jwk(), "alg": "RS512"})),
    "a key without kid": http_answer(jwks({k: v for k, v in good_jwk().items() if k != "kid"})),
    "over the size cap": http_answer(jwks(good_jwk(), padding="x" * JWKS_MAX_BYTES)),
    "declares 10 GB": http_answer(jwks(good_jwk()), headers={"Content-Length": str(10**10)}),
    "chunked past the cap": (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        + b"%x\r\n" % (JWKS_MAX_BYTES + 10)
        + b" " * (JWKS_MAX_BYTES + 10)
        + b"\r\n0\r\n\r\n"
    ),
    "cut short": http_answer(jwks(good_jwk()), headers={"Content-Length": "100000"}),
    "a redirect": http_answer(b"", "302 Found", {"Location": "http://127.0.0.1:1/jwks.json"}),
    "a permanent redirect": http_answer(b"", "301 Moved", {"Location": "/elsewhere"}),
    "server error": http_answer(b'{"error": "boom"}', "500 Internal Server Error"),
    "not found": http_answer(b"", "404 Not Found"),
    "no content": http_answer(b"", "204 No Content", {"Content-Length": ""}),
    "not HTTP": b"SSH-2.0-OpenSSH_9.6\r\n",
    "a status line only": b"HTTP/1.1 200 OK\r\n",
    "a header line of 100 kB": b"HTTP/1.1 200 OK\r\nX: " + b"a" * 100_000 + b"\r\n\r\n{}",
    "200 headers": b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 200 + b"\r\n{}",
    "closes at once": b"",
}


@pytest.mark.parametrize("answer", BROKEN_ANSWERS.values(), ids=BROKEN_ANSWERS.keys())
def test_a_broken_key_set_makes_auth_unavailable_never_an_error(answer: bytes) -> None:
    # GIVEN an endpoint that answers with something that is no usable key set
    with serve_raw(answer) as server:
        # WHEN a token is verified THEN it is a 503 to retry, after one request
        unavailable(verifier_for(server.url))
    assert server.requests == 1


def test_a_redirect_to_a_good_key_set_is_not_followed() -> None:
    # GIVEN an endpoint redirecting to a key set that would verify the token
    with serve_jwks([good_jwk()]) as good:
        moved = http_answer(b"", "302 Found", {"Location": good.url})
        with serve_raw(moved) as server:
            # THEN the redirect is an error (configure the final URL), and never followed
            assert "HTTP 302" in unavailable(verifier_for(server.url)).message
    assert good.fetches == 0


def test_the_good_key_set_verifies_through_the_same_raw_endpoint() -> None:
    # the control for the answers above: the same server, a sound answer, a verified token
    with serve_raw(http_answer(jwks(good_jwk()))) as server:
        assert verifier_for(server.url).verify(f"Bearer {token()}").subject == "svc"


# --- slow endpoints: one deadline for the whole fetch ----------------------------------------
@pytest.mark.parametrize("headers_at_once", [False, True], ids=["all of it", "the body"])
def test_an_endpoint_sending_a_byte_at_a_time_is_abandoned_at_the_deadline(
    headers_at_once: bool,
) -> None:
    # GIVEN a sound key set, sent one byte every 20 ms: 10 s or more in all
    answer = http_answer(jwks(good_jwk()))
    split = answer.index(b"\r\n\r\n") + 4 if headers_at_once else 0
    with serve_raw(answer, drip_after=split) as server:
        # WHEN a token is verified THEN it is unavailable, and the deadline says so
        assert f"within {DEADLINE:g} s" in unavailable(verifier_for(server.url)).message
        # AND the verifier gave up while the server was still sending (each read was quick,
        # so only a whole-fetch deadline can have stopped it)
        assert not server.finished.is_set()
        assert server.sent < len(answer)
        # AND it hung up: nothing keeps reading the drip in the background
        assert server.hung_up.wait(timeout=10)
    assert not server.finished.is_set()


def test_an_endpoint_that_never_answers_is_abandoned_at_the_deadline() -> None:
    with serve_raw(None) as server:
        unavailable(verifier_for(server.url))
    assert server.requests == 1


def test_a_tls_handshake_that_never_completes_is_abandoned_at_the_deadline() -> None:
    # GIVEN an https URL whose server accepts the connection and never answers the hello
    with serve_raw(None) as server:
        # THEN it is unavailable (the handshake's own timeout is the deadline too)
        unavailable(verifier_for(server.url.replace("http://", "https://")))
    assert server.requests == 0  # the server never saw a request: the hello went unanswered


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A TLS server context with a certificate for 127.0.0.1 that no one has signed."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_a_certificate_that_does_not_verify_makes_auth_unavailable(self_signed) -> None:
    # GIVEN an https endpoint serving a sound key set under a self-signed certificate
    with serve_raw(http_answer(jwks(good_jwk())), tls=self_signed) as server:
        # THEN the certificate is checked, and the keys are not used
        assert "SSLCertVerificationError" in unavailable(verifier_for(server.url)).message
    assert server.requests == 0


def test_an_https_url_answered_in_plain_http_makes_auth_unavailable() -> None:
    with serve_raw(http_answer(jwks(good_jwk()))) as server:
        unavailable(verifier_for(server.url.replace("http://", "https://")))


# --- failures are remembered briefly; good keys live out their lifespan ---------------------
def test_after_a_failed_fetch_requests_are_refused_at_once_until_retry_after() -> None:
    clock = Clock()
    with serve_raw(http_answer(b"", "503 Service Unavailable")) as server:
        verifier = verifier_for(server.url, clock)
        first = unavailable(verifier)
        # WHEN more requests come within the Retry-After THEN the same answer, no fetch
        clock.now += JWKS_RETRY_SECONDS - 0.1
        assert unavailable(verifier) is first
        assert server.requests == 1
        # WHEN the endpoint is sound again after that THEN the next request is served
        server.answer = http_answer(jwks(good_jwk()))
        clock.now += 0.1
        assert verifier.verify(f"Bearer {token()}").subject == "svc"
    assert server.requests == 2


def test_keys_fetched_before_an_outage_serve_until_their_lifespan_ends() -> None:
    clock = Clock()
    with serve_raw(http_answer(jwks(good_jwk()))) as server:
        verifier = verifier_for(server.url, clock)
        verifier.verify(f"Bearer {token()}")
        # WHEN the endpoint turns hostile THEN a token naming an unknown key is refused
        # without a fetch (the refresh cooldown) ...
        server.answer = http_answer(b'{"keys": "k1"}')
        with pytest.raises(InvalidTokenError, match="key id is unknown"):
            verifier.verify(f"Bearer {token('forged')}")
        # ... the cached keys still serve until their lifespan ends ...
        clock.now += JWKS_LIFESPAN_SECONDS - 1
        assert verifier.verify(f"Bearer {token()}").subject == "svc"
        assert server.requests == 1
        # ... and once their lifespan is over, the broken set is not trusted
        clock.now += 1
        unavailable(verifier)
    assert server.requests == 2


# --- generated key sets ------------------------------------------------------------------------
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)
JWK_FIELDS = ["kty", "kid", "alg", "use", "crv", "n", "e", "x", "y", "d", "k", "key_ops", "x5c"]


@st.composite
def junk_jwk(draw: st.DrawFn) -> Any:
    """A JWK-like value: real fields of our key, kty/alg/use variants, values of any type;
    never named KID with usable material (so the real key, when present, is the one)."""
    base = draw(st.sampled_from([good_jwk(), tokens.public_jwk(tokens.ec_private_key(), KID)]))
    entry = {name: value for name, value in base.items() if draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(JWK_FIELDS), max_size=4)):
        entry[name] = draw(
            JSON_VALUES
            | st.sampled_from(["RSA", "EC", "oct", "OKP", "RS256", "ES256", "HS256", "sig", "enc"])
        )
    other_kids = st.text(max_size=5).filter(lambda kid: kid != KID)
    entry["kid"] = draw(st.sampled_from(["other", "", None, 7, [KID]]) | other_kids)
    return entry if draw(st.integers(0, 3)) else draw(JSON_VALUES)


DOCUMENTS = st.builds(
    lambda junk, real, at, extra: {"keys": [*junk[:at], *real, *junk[at:]], **extra},
    st.lists(junk_jwk(), max_size=4),
    st.sampled_from([[], [good_jwk()]]),
    st.integers(0, 4),
    st.dictionaries(
        st.text(max_size=5).filter(lambda name: name != "keys"), JSON_VALUES, max_size=2
    ),
)


def test_generated_key_sets_give_keys_or_a_jwks_error_never_another_exception() -> None:
    @fuzz(300)
    @given(document=DOCUMENTS | JSON_VALUES, whole=st.booleans())
    def check(document: Any, whole: bool) -> None:
        body = json.dumps(document).encode()
        body = body if whole else body[: len(body) // 2]
        try:
            keys = signing_keys(body, PUBLIC_KEY_ALGORITHMS)
        except JwksError:
            return
        # THEN every key it keeps is a public RSA/EC signing key of an allowed algorithm
        assert keys
        for kid, key in keys.items():
            assert isinstance(kid, str) and kid
            assert key.algorithm_name in PUBLIC_KEY_ALGORITHMS
            assert not hasattr(key.key, "private_numbers")

    check()


def test_generated_key_sets_served_over_http_verify_refuse_or_are_unavailable() -> None:
    with serve_raw(None) as server:

        @fuzz(40)
        @given(document=DOCUMENTS)
        def check(document: dict[str, Any]) -> None:
            # GIVEN the endpoint serving a generated key set
            server.answer = http_answer(json.dumps(document).encode())
            # WHEN our token is verified against it
            try:
                claims = verifier_for(server.url).verify(f"Bearer {token()}")
            except (UnauthorizedError, AuthUnavailableError) as refused:
                # THEN refused only when our key is not in the set
                assert good_jwk() not in document["keys"], refused.message
                return
            assert claims.subject == "svc"

        check()


# --- through the API handler: 503 auth_unavailable, Retry-After, the error shape -------------
@pytest.fixture
def jwks_api(handler_env: pytest.MonkeyPatch) -> Iterator[tuple[ModuleType, RawServer]]:
    with serve_raw(None) as server:
        handler_env.delenv("JWT_SECRET")
        handler_env.delenv("JWT_REQUIRED_SCOPE")
        handler_env.setenv("JWT_JWKS_URL", server.url)
        yield fresh_module("detector.handlers.api"), server


@pytest.mark.parametrize(
    ("answer", "drip"),
    [
        (BROKEN_ANSWERS["html"], False),
        (BROKEN_ANSWERS["empty key list"], False),
        (BROKEN_ANSWERS["keys a string"], False),
        (BROKEN_ANSWERS["alg a list"], False),
        (http_answer(jwks(good_jwk())), True),
    ],
    ids=["html", "empty key list", "keys a string", "alg a list", "a byte at a time"],
)
def test_the_api_answers_503_auth_unavailable_for_a_broken_jwks(
    jwks_api, lambda_context, dog_jpg: Path, answer: bytes, drip: bool
) -> None:
    api, server = jwks_api
    server.answer, server.drip_after = answer, 0 if drip else None
    event = events.api_event(
        "http",
        "POST",
        "/detect",
        body=dog_jpg.read_bytes(),
        content_type="image/jpeg",
        token=token(),
    )

    response = api.lambda_handler(event, lambda_context)

    assert response["statusCode"] == 503
    assert header(response, "Retry-After") == "5"
    body = json_body(response)
    assert body["error"]["code"] == "auth_unavailable"
    assert set(body) == {"error", "request_id"}
    if drip:  # gave up at the product's deadline while the server was still sending
        assert f"within {auth.JWKS_DEADLINE_SECONDS:g} s" in body["error"]["message"]
        assert not server.finished.is_set() and server.sent < len(answer)
