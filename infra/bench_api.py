"""API and auth figures: run ``python infra/bench_api.py`` from the repository root.

Prints medians measured side by side in one run (interleaved, the machine is shared):

- ``auth``: one token verification per key type (HS256 secret, RS256 and ES256 PEM keys,
  a JWKS served on 127.0.0.1 after its first fetch);
- ``handler``: a warm ``POST /detect`` through ``lambda_handler`` (HTTP API event, JWT,
  base64 body, JSON response) against the bare ``Detector.detect`` on the same image: the
  price of the handler around the model; and the same request answered with the JPEG;
- ``cold``: the first request after re-importing the handler module (model load from disk
  and first inference; the libraries stay imported, so a real cold start costs more).
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "function"))
sys.path.insert(0, str(REPO))

from detector.auth import TokenVerifier  # noqa: E402
from detector.local import events, samples  # noqa: E402
from detector.local.context import LocalContext  # noqa: E402
from detector.settings import Settings  # noqa: E402
from tests import tokens  # noqa: E402
from tests.jwks import serve_jwks  # noqa: E402


def median_ms(samples_s: list[float]) -> float:
    return statistics.median(samples_s) * 1000


def interleaved(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            run()
            timings[name].append(time.perf_counter() - started)
    return {name: median_ms(values) for name, values in timings.items()}


def bench_auth(repeats: int) -> None:
    rsa, ec = tokens.rsa_private_key(), tokens.ec_private_key()
    with serve_jwks([tokens.public_jwk(rsa, "rsa-1")]) as server:
        cases = {
            "HS256 secret": (Settings(jwt_secret=tokens.SECRET), tokens.hs256()),
            "RS256 PEM": (
                Settings(jwt_public_key=tokens.public_pem(rsa)),
                _signed(tokens.private_pem(rsa), "RS256"),
            ),
            "ES256 PEM": (
                Settings(jwt_public_key=tokens.public_pem(ec)),
                _signed(tokens.private_pem(ec), "ES256"),
            ),
            "RS256 JWKS (cached)": (
                Settings(jwt_jwks_url=server.url),
                _signed(tokens.private_pem(rsa), "RS256", kid="rsa-1"),
            ),
        }
        runs = {}
        for name, (settings, token) in cases.items():
            verifier = TokenVerifier.from_settings(settings)
            verifier.verify(f"Bearer {token}")  # warm: keys parsed, JWKS fetched
            runs[name] = _verify(verifier, token)
        figures = interleaved(runs, repeats)
        print(f"auth: median per verification over {repeats} runs (JWKS fetches: {server.fetches})")
    for name, ms in figures.items():
        print(f"  {name:<22} {ms * 1000:8.1f} µs")


def bench_handler(repeats: int) -> None:
    api = _cold_api()
    image = samples.sample_image_path().read_bytes()
    token = tokens.hs256()
    as_json = events.api_event(
        "http", "POST", "/detect", body=image, content_type="image/jpeg", token=token
    )
    as_jpeg = events.api_event(
        "http",
        "POST",
        "/detect",
        body=image,
        content_type="image/jpeg",
        token=token,
        headers={"accept": "image/jpeg"},
    )
    context = LocalContext()
    assert api.lambda_handler(as_json, context)["statusCode"] == 200  # warm
    detector = api.model.holder.get().detector
    figures = interleaved(
        {
            "Detector.detect": lambda: detector.detect(image),
            "handler, JSON": lambda: api.lambda_handler(as_json, context),
            "handler, JPEG": lambda: api.lambda_handler(as_jpeg, context),
        },
        repeats,
    )
    base = figures["Detector.detect"]
    print(f"handler: warm POST /detect of {samples.sample_image_path().name}, median of {repeats}")
    for name, ms in figures.items():
        print(f"  {name:<18} {ms:8.1f} ms  x{ms / base:.2f}  (+{ms - base:.1f} ms)")


def bench_cold(repeats: int) -> None:
    image = samples.sample_image_path().read_bytes()
    event = events.api_event(
        "http", "POST", "/detect", body=image, content_type="image/jpeg", token=tokens.hs256()
    )
    firsts, seconds = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        api = _cold_api()
        api.lambda_handler(event, LocalContext())
        firsts.append(time.perf_counter() - started)
        started = time.perf_counter()
        api.lambda_handler(event, LocalContext())
        seconds.append(time.perf_counter() - started)
    print(
        f"cold: first request after re-importing the handler (model load from a plain .onnx"
        f" on disk + first inference; libraries already imported), median of {repeats}"
    )
    print(f"  first request   {median_ms(firsts):8.1f} ms")
    print(f"  second request  {median_ms(seconds):8.1f} ms")


def _cold_api():  # type: ignore[no-untyped-def]
    for name in list(sys.modules):
        if name.startswith("detector.handlers"):
            del sys.modules[name]
    return importlib.import_module("detector.handlers.api")


def _signed(pem: str, algorithm: str, kid: str | None = None) -> str:
    from detector.auth import issue_token  # noqa: PLC0415

    return issue_token(pem, subject="bench", algorithm=algorithm, key_id=kid)


def _verify(verifier: TokenVerifier, token: str) -> Callable[[], object]:
    return lambda: verifier.verify(f"Bearer {token}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("sections", nargs="*", default=["auth", "handler", "cold"])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    os.environ.update(
        {
            "POWERTOOLS_SERVICE_NAME": "detector-bench",
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "MODEL_URI": str(samples.sample_model_path()),
            "MODEL_NAMES_FILE": str(samples.coco_dir() / "names.txt"),
            "JWT_SECRET": tokens.SECRET,
            "AWS_DEFAULT_REGION": "us-east-1",
        }
    )
    sections = {"auth": bench_auth, "handler": bench_handler, "cold": bench_cold}
    for name in args.sections:
        sections[name](args.repeats if name != "cold" else max(3, args.repeats // 10))


if __name__ == "__main__":
    main()
