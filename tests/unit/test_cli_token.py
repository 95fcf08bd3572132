"""`detector token` mints tokens that the real verifier accepts."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from detector.auth import TokenVerifier
from detector.commands import main
from detector.settings import Settings
from tests import tokens
from tests.cli import detector


def minted(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["token", *argv]) == 0
    return capsys.readouterr().out.strip()


def test_token_with_a_secret_verifies_with_that_secret(capsys) -> None:
    # GIVEN / WHEN a token minted with --secret
    token = minted(capsys, "--secret", tokens.SECRET, "--sub", "alice", "--ttl", "60")

    # THEN the verifier with that secret and the detect scope accepts it
    verifier = TokenVerifier.from_settings(
        Settings(jwt_secret=tokens.SECRET, jwt_required_scope="detect")
    )
    claims = verifier.verify(f"Bearer {token}")
    assert claims.subject == "alice"
    assert claims.claims["exp"] - claims.claims["iat"] == 60


def test_token_takes_the_secret_issuer_and_audience_from_the_environment(
    capsys, monkeypatch
) -> None:
    monkeypatch.setenv("JWT_SECRET", tokens.SECRET)
    monkeypatch.setenv("JWT_ISSUER", "https://issuer.example.com")
    monkeypatch.setenv("JWT_AUDIENCE", "detector")

    token = minted(capsys, "--sub", "bob")

    assert (
        TokenVerifier.from_settings(Settings.from_env()).verify(f"Bearer {token}").subject == "bob"
    )


@pytest.mark.parametrize(
    ("make_key", "algorithm"),
    [
        (tokens.rsa_private_key, "RS256"),
        (tokens.ec_private_key, "ES256"),
    ],
)
def test_token_with_a_pem_key_uses_the_algorithm_of_the_key(
    capsys, tmp_path: Path, make_key, algorithm: str
) -> None:
    key_file = tmp_path / "key.pem"
    key_file.write_text(tokens.private_pem(make_key()))

    token = minted(capsys, "--key", str(key_file), "--sub", "svc", "--kid", "k1")

    assert jwt.get_unverified_header(token) == {"alg": algorithm, "kid": "k1", "typ": "JWT"}
    verifier = TokenVerifier.from_settings(Settings(jwt_public_key=tokens.public_pem(make_key())))
    assert verifier.verify(f"Bearer {token}").subject == "svc"


def test_token_without_any_key_fails_with_a_message(capsys, monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    monkeypatch.setenv("DETECTOR_CACHE_DIR", str(tmp_path))  # no `detector serve` session

    assert main(["token", "--sub", "x"]) == 2
    assert "--secret" in capsys.readouterr().err


def test_token_with_a_short_secret_fails_with_a_message(capsys) -> None:
    assert main(["token", "--secret", "short", "--sub", "x"]) == 2
    assert "32 bytes" in capsys.readouterr().err


@pytest.mark.parametrize("ttl", ["-5", "0", "soon"])
def test_a_lifetime_that_is_not_a_positive_number_of_seconds_is_refused(ttl: str) -> None:
    done = detector("token", "--secret", tokens.SECRET, "--ttl", ttl)
    assert done.returncode == 2
    assert "--ttl" in done.stderr
    assert done.stdout == ""


def test_the_subject_and_scope_have_defaults_that_help_shows() -> None:
    shown = detector("token", "--help").stdout
    assert "(local-user)" in shown and "(detect)" in shown
    done = detector("token", "--secret", tokens.SECRET)
    assert done.returncode == 0, done.stderr
    claims = jwt.decode(done.stdout.strip(), tokens.SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["scope"]) == ("local-user", "detect")
