"""`detector serve` fills in what a local run needs, and nothing the user chose."""

from __future__ import annotations

from pathlib import Path

import jwt

from detector.local import samples, serve


def test_without_settings_it_serves_the_sample_model_with_a_session_secret(model_path: Path):
    # GIVEN an empty environment
    environ: dict[str, str] = {}
    # WHEN
    session = serve.configure(environ)
    # THEN the sample model and its names are served, and the token verifies with the secret
    assert environ["MODEL_URI"] == str(model_path)
    assert environ["MODEL_NAMES_FILE"] == str(samples.sample_names_path())
    assert session.token is not None
    assert session.secret == environ["JWT_SECRET"]
    claims = jwt.decode(session.token, environ["JWT_SECRET"], algorithms=["HS256"])
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
    session = serve.configure(environ)
    assert session.token is not None
    assert session.secret is None  # the user's own: `detector token` finds it in JWT_SECRET
    claims = jwt.decode(session.token, "s" * 40, algorithms=["HS256"], audience="my-api")
    assert claims["scope"] == "detect"
    # AND the model the user chose is left alone
    assert environ["MODEL_URI"] == "/models/mine.sealed"
    assert "MODEL_NAMES_FILE" not in environ


def test_with_a_secret_held_elsewhere_no_secret_is_made_and_no_token_printed():
    environ = {"JWT_SECRET_ID": "prod/jwt"}
    assert serve.configure(environ, model=Path("/models/x.onnx")).token is None
    assert "JWT_SECRET" not in environ
    assert environ["MODEL_URI"] == "/models/x.onnx"


def test_a_key_option_replaces_the_key_settings_and_the_logs_are_quiet_unless_verbose():
    from detector.model.keys import UserKeySource  # noqa: PLC0415

    environ = {"MODEL_KEY_SECRET_ID": "prod/model-key", "POWERTOOLS_LOG_LEVEL": "DEBUG"}
    serve.configure(environ, user_key=UserKeySource(value="a2V5\n", value_origin="key.txt"))
    assert environ["MODEL_KEY_B64"] == "a2V5"
    assert environ["MODEL_KEY_SECRET_ID"] == ""
    # the user's own switches stay; metrics are off, tracing has no daemon to send to
    assert environ["POWERTOOLS_LOG_LEVEL"] == "DEBUG"
    assert environ["POWERTOOLS_METRICS_DISABLED"] == "true"
    assert environ["POWERTOOLS_TRACE_DISABLED"] == "true"

    verbose: dict[str, str] = {}
    serve.configure(verbose, verbose=True)
    assert "POWERTOOLS_METRICS_DISABLED" not in verbose
