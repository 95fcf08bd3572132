"""`detector serve` fills in what a local run needs, and nothing the user chose."""

from __future__ import annotations

from pathlib import Path

import jwt

from detector.local import samples, serve


def test_without_settings_it_serves_the_sample_model_with_a_session_secret(model_path: Path):
    # GIVEN an empty environment
    environ: dict[str, str] = {}
    # WHEN
    token = serve.configure(environ)
    # THEN the sample model and its names are served, and the token verifies with the secret
    assert environ["MODEL_URI"] == str(model_path)
    assert environ["MODEL_NAMES_FILE"] == str(samples.sample_names_path())
    assert token is not None
    claims = jwt.decode(token, environ["JWT_SECRET"], algorithms=["HS256"])
    assert claims["sub"] == "local-user"


def test_each_session_gets_its_own_secret():
    first: dict[str, str] = {}
    second: dict[str, str] = {}
    serve.configure(first)
    serve.configure(second)
    assert first["JWT_SECRET"] != second["JWT_SECRET"]


def test_a_given_secret_scope_and_audience_are_used_for_the_token():
    environ = {
        "JWT_SECRET": "s" * 40,
        "JWT_REQUIRED_SCOPE": "detect",
        "JWT_AUDIENCE": "my-api",
        "MODEL_URI": "/models/mine.sealed",
    }
    token = serve.configure(environ)
    assert token is not None
    claims = jwt.decode(token, "s" * 40, algorithms=["HS256"], audience="my-api")
    assert claims["scope"] == "detect"
    # AND the model the user chose is left alone
    assert environ["MODEL_URI"] == "/models/mine.sealed"
    assert "MODEL_NAMES_FILE" not in environ


def test_with_a_secret_held_elsewhere_no_secret_is_made_and_no_token_printed():
    environ = {"JWT_SECRET_ID": "prod/jwt"}
    assert serve.configure(environ, model=Path("/models/x.onnx")) is None
    assert "JWT_SECRET" not in environ
    assert environ["MODEL_URI"] == "/models/x.onnx"
