"""Cold starts through AWS's runtime client: the ``imports``, ``coldstart`` and ``snapstart``
sections of ``benchmarks.bench``.

Every function process here is a fresh interpreter started the way the Lambda Python base
image starts one, ``python -m awslambdaric HANDLER``, against the local Runtime API
(``detector.local.runtime_api``), so the figures include what Lambda's own bootstrap does.
AWS is moto's server on 127.0.0.1 (``LocalAws``). The candidates take turns, round after
round; a ratio is the median of the ratios within each round (the machine is shared: a
round's candidates see the same load). A first round, not counted, writes the bytecode
(the image compiles ours at build time) and fills the page cache.

- ``imports``: ``import detector.handlers.api`` (and ``.s3``), tracing on and off, against
  ``import onnxruntime, numpy, PIL.Image, boto3``, each in a fresh interpreter; and the floor
  plus the libraries each handler cannot do without (``NEEDED_IMPORTS``): the bound on how
  close a handler's import can come to the floor while it uses them.
- ``coldstart``: process start → first detection answered. Ours: the API handler, the sealed
  model from S3 (KMS envelope), the bearer token checked against a Secrets Manager secret,
  an empty /tmp; tracing off and on. The floor
  (``benchmarks.floor``): the four packages, a plain model from S3, a session, a detection.
  Between them, ``benchmarks.floor_sealed``: the floor plus only what our requirements add
  (PyJWT against the secret, a KMS-wrapped AES-GCM zstd model), no code of ours.
- ``snapstart``: initialised with ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` (the
  before-snapshot hooks load and warm the model), held at ``restore/next``, then restored
  with a detection waiting: that first detection (as Lambda bills it: event handed over →
  answer) against the median of the warm ones after it, and restore → answer (the
  after-restore hooks too).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import floor_sealed
from detector.local import events, samples
from detector.local.runtime_api import Invocation, LambdaProcess, RuntimeApi
from detector.local.s3server import LocalAws
from detector.local.tokens import sign_token

REPO = Path(__file__).resolve().parents[1]
FLOOR_HANDLER = "benchmarks.floor.handler"
SEALED_FLOOR_HANDLER = "benchmarks.floor_sealed.handler"
SEALED_CASE = "floor + sealed model + token"
API_HANDLER = "detector.handlers.api.lambda_handler"
FLOOR_IMPORTS = "onnxruntime, numpy, PIL.Image, boto3"
FLOOR = "floor: " + FLOOR_IMPORTS
# What a handler cannot do without beyond the floor: the sealed model's AES-GCM and zstd,
# base64 at C speed, Powertools' logger and metrics; the API handler also verifies tokens.
# Their import alone bounds how close to the floor a handler's import can come.
NEEDED_IMPORTS = {
    "upload": "cryptography.hazmat.primitives.ciphers.aead, zstandard, pybase64, "
    "aws_lambda_powertools.logging, aws_lambda_powertools.metrics",
}
NEEDED_IMPORTS["api"] = NEEDED_IMPORTS["upload"] + ", jwt"
BUCKET = "models"
JWT_SECRET_NAME = "detector/bench-jwt"
JWT_SECRET = "bench-only-secret-" + "0" * 32  # a local token secret, nothing else
ANSWER_TIMEOUT_S = 300


@dataclass(frozen=True)
class Stack:
    """What a deployment has in AWS, here in moto: the model, sealed and plain, and the
    token secret."""

    local: LocalAws
    sealed_uri: str
    plain_uri: str
    envelope_uri: str  # benchmarks.floor_sealed's

    def environ(self, cache_dir: Path, *, tracing: bool) -> dict[str, str]:
        """The function's environment, as the template sets it, with an empty /tmp cache."""
        return {
            **self.local.environ(),
            "MODEL_URI": self.sealed_uri,
            "MODEL_CACHE_DIR": str(cache_dir),
            "JWT_SECRET_ID": JWT_SECRET_NAME,
            "POWERTOOLS_SERVICE_NAME": "detector",
            "POWERTOOLS_TRACE_DISABLED": "false" if tracing else "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "FLOOR_MODEL_URI": self.plain_uri,
            "FLOOR_SEALED_MODEL_URI": self.envelope_uri,
        }


@contextmanager
def deployed_stack() -> Iterator[Stack]:
    """moto's server with the sample model sealed (KMS) and plain, the JWT secret, and the
    model in benchmarks.floor_sealed's envelope."""
    from benchmarks.bench import seal_to_local_s3  # noqa: PLC0415 - bench imports this module

    model = samples.sample_model_path().read_bytes()
    with LocalAws() as local:
        sealed_uri = seal_to_local_s3(local, model)
        s3, kms = local.client("s3"), local.client("kms")
        s3.put_object(Bucket=BUCKET, Key="yolox_nano.onnx", Body=model)
        key_id = kms.create_key(Description="bench envelope")["KeyMetadata"]["KeyId"]
        data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
        envelope = floor_sealed.pack(model, data_key["Plaintext"], data_key["CiphertextBlob"])
        s3.put_object(Bucket=BUCKET, Key="yolox_nano.envelope", Body=envelope)
        local.client("secretsmanager").create_secret(Name=JWT_SECRET_NAME, SecretString=JWT_SECRET)
        yield Stack(
            local,
            sealed_uri,
            f"s3://{BUCKET}/yolox_nano.onnx",
            f"s3://{BUCKET}/yolox_nano.envelope",
        )


def clean_environ() -> dict[str, str]:
    """This process's environment without AWS, model or token settings, for a function
    process started with ``inherit_environ=False`` (else they came back): bytecode written to
    a cache of the benchmark's own, as the image has it compiled. (With PYTHONDONTWRITEBYTECODE
    from the caller's shell every module a first request imports was compiled anew in every
    cold start: ~40 ms of the first decode alone, Pillow's plugins, until 2026-12-06.)"""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "MODEL_", "JWT_", "POWERTOOLS_"))
        and name != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(REPO / "build" / "pycache")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "function"), str(REPO)])
    return env


def detect_event() -> dict[str, Any]:
    """POST /detect with the sample photo and a valid token, as an HTTP API sends it."""
    token = sign_token(JWT_SECRET, subject="bench", ttl_seconds=24 * 3600)
    image = samples.sample_image_path().read_bytes()
    return events.api_event(
        "http", "POST", "/detect", body=image, content_type="image/jpeg", token=token
    )


def taking_turns(
    cases: Sequence[str], rounds: int, run: Callable[[str, int], dict[str, float]]
) -> dict[str, list[dict[str, float]]]:
    """``run(case, round)`` for every case in turn, ``rounds`` times after one not counted."""
    results: dict[str, list[dict[str, float]]] = {case: [] for case in cases}
    for round_ in range(rounds + 1):
        for case in cases:
            figures = run(case, round_)
            if round_:
                results[case].append(figures)
    return results


def paired_ratio(
    results: dict[str, list[dict[str, float]]], case: str, base: str, key: str
) -> float:
    """The median over rounds of ``case / base`` within each round."""
    pairs = zip(results[case], results[base], strict=True)
    return statistics.median(ours[key] / theirs[key] for ours, theirs in pairs)


def median_of(results: dict[str, list[dict[str, float]]], case: str, key: str) -> float:
    return statistics.median(figures[key] for figures in results[case])


# --- imports ------------------------------------------------------------------------------------
def import_ms(statement: str, env: dict[str, str]) -> float:
    """Milliseconds that ``statement`` takes in a fresh interpreter."""
    code = (
        "import time\nstarted = time.perf_counter()\n"
        f"{statement}\nprint((time.perf_counter() - started) * 1000)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{statement!r} failed:\n{done.stderr[-3000:]}")
    return float(done.stdout.strip().splitlines()[-1])


def imports_section(rounds: int = 7) -> list[Any]:
    from benchmarks.bench import Row  # noqa: PLC0415

    base = clean_environ()
    # As Lambda imports a handler: Powertools' Tracer traces only where LAMBDA_TASK_ROOT says
    # it runs in Lambda, and a Runtime API address pauses the collector (detector.startup);
    # the import reads no more of it than that it is set.
    in_lambda = {
        **base,
        "LAMBDA_TASK_ROOT": str(REPO),
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001",
    }
    cases = {FLOOR: (f"import {FLOOR_IMPORTS}", base)}
    for handler, needed in NEEDED_IMPORTS.items():
        cases[f"floor + what the {handler} handler needs: {needed}"] = (
            f"import {FLOOR_IMPORTS}, {needed}",
            base,
        )
    for tracing in ("off", "on"):
        env = {**in_lambda, "POWERTOOLS_TRACE_DISABLED": "true" if tracing == "off" else "false"}
        for handler in ("api", "s3"):
            cases[f"{handler} handler, tracing {tracing}"] = (
                f"import detector.handlers.{handler}",
                env,
            )

    def run(case: str, _: int) -> dict[str, float]:
        statement, env = cases[case]
        return {"import": import_ms(statement, env)}

    results = taking_turns(list(cases), rounds, run)
    rows = [Row("imports", FLOOR, "median", median_of(results, FLOOR, "import"), "ms")]
    for case in list(cases)[1:]:
        goal = "<= 1.2" if "tracing off" in case else ""
        rows += [
            Row("imports", case, "median", median_of(results, case, "import"), "ms"),
            Row(
                "imports",
                case,
                "ratio to the floor",
                paired_ratio(results, case, FLOOR, "import"),
                "x",
                goal,
            ),
        ]
    return rows


# --- cold start through the runtime client -----------------------------------------------------
COLD_CASES = {
    "floor": (FLOOR_HANDLER, {"tracing": False}),
    SEALED_CASE: (SEALED_FLOOR_HANDLER, {"tracing": False}),
    "api handler, tracing off": (API_HANDLER, {"tracing": False}),
    "api handler, tracing on": (API_HANDLER, {"tracing": True}),
}


def cold_start(handler: str, event: dict[str, Any], env: dict[str, str]) -> dict[str, float]:
    """One fresh runtime, in ms from the process start: to its first poll for an event (init
    done) and to the first answer."""
    with (
        RuntimeApi() as api,
        LambdaProcess.start(
            handler, api, env=env, task_root=REPO, inherit_environ=False
        ) as process,
    ):
        answer = process.invoke(event, timeout=ANSWER_TIMEOUT_S)
        check_answer(handler, answer, process)
        assert answer.answered_at is not None
        return {
            "init": (api.calls[0].at - process.started_at) * 1000,
            "total": (answer.answered_at - process.started_at) * 1000,
        }


def check_answer(handler: str, answer: Invocation, process: LambdaProcess) -> None:
    status = answer.json().get("statusCode") if answer.outcome == "response" else None
    if status != 200:
        raise RuntimeError(f"{handler}: {answer.body[-2000:]!r}\n{process.output()[-3000:]}")


def cold_start_section(rounds: int = 5) -> list[Any]:
    from benchmarks.bench import Row  # noqa: PLC0415

    event = detect_event()
    with deployed_stack() as stack, tempfile.TemporaryDirectory() as folder:

        def run(case: str, round_: int) -> dict[str, float]:
            handler, options = COLD_CASES[case]
            cache = Path(folder) / f"{case}-{round_}"  # a new instance's empty /tmp
            env = {**clean_environ(), **stack.environ(cache, **options)}
            return cold_start(handler, event, env)

        results = taking_turns(list(COLD_CASES), rounds, run)
    rows = []
    for case in COLD_CASES:
        rows += [
            Row(
                "coldstart",
                case,
                "median start → init done",
                median_of(results, case, "init"),
                "ms",
            ),
            Row(
                "coldstart",
                case,
                "median start → first detection",
                median_of(results, case, "total"),
                "ms",
            ),
        ]
        if case != "floor":
            goal = "<= 1.3" if case == "api handler, tracing off" else ""
            ratio = paired_ratio(results, case, "floor", "total")
            rows.append(Row("coldstart", case, "ratio to the floor", ratio, "x", goal))
        if case.startswith("api handler"):
            ratio = paired_ratio(results, case, SEALED_CASE, "total")
            rows.append(Row("coldstart", case, f"ratio to the {SEALED_CASE}", ratio, "x"))
    return rows


# --- SnapStart ---------------------------------------------------------------------------------
def snapstart_cycle(
    event: dict[str, Any], env: dict[str, str], warm_samples: int
) -> dict[str, float]:
    """A runtime initialised for SnapStart, held at its snapshot point, then restored with a
    request waiting, as the request that made Lambda restore it would be; ms."""
    with (
        RuntimeApi(hold_restore=True) as api,
        LambdaProcess.start(
            API_HANDLER, api, env=env, task_root=REPO, snap_start=True, inherit_environ=False
        ) as process,
    ):
        snapshot = api.wait_for_call(
            "restore_next", timeout=ANSWER_TIMEOUT_S, process=process.popen
        )
        first = api.submit(event)
        restored_at = time.perf_counter()
        api.release_restore()
        api.wait_answer(first, timeout=ANSWER_TIMEOUT_S, process=process.popen)
        check_answer(API_HANDLER, first, process)
        warm = []
        for _ in range(warm_samples):
            answer = process.invoke(event, timeout=ANSWER_TIMEOUT_S)
            check_answer(API_HANDLER, answer, process)
            warm.append(served_ms(answer))
        assert first.answered_at is not None
        return {
            "snapshot": (snapshot.at - process.started_at) * 1000,
            "restore_to_first": (first.answered_at - restored_at) * 1000,
            "first": served_ms(first),
            "warm": statistics.median(warm),
        }


def served_ms(answer: Invocation) -> float:
    """An invocation as Lambda bills it: from the event handed over to the answer."""
    assert answer.answered_at is not None and answer.delivered_at is not None
    return (answer.answered_at - answer.delivered_at) * 1000


def snapstart_section(rounds: int = 3, warm_samples: int = 16) -> list[Any]:
    from benchmarks.bench import Row  # noqa: PLC0415

    event = detect_event()
    case = "api handler, tracing off"
    with deployed_stack() as stack, tempfile.TemporaryDirectory() as folder:

        def run(_: str, round_: int) -> dict[str, float]:
            env = {**clean_environ(), **stack.environ(Path(folder) / str(round_), tracing=False)}
            figures = snapstart_cycle(event, env, warm_samples)
            figures["first / warm"] = figures["first"] / figures["warm"]
            figures["restore / warm"] = figures["restore_to_first"] / figures["warm"]
            return figures

        results = taking_turns([case], rounds, run)

    def row(measured: str, key: str, unit: str = "ms", goal: str = "") -> Row:
        return Row("snapstart", case, measured, median_of(results, case, key), unit, goal)

    return [
        row("median start → snapshot (init, before-snapshot hooks)", "snapshot"),
        row("median warm detection", "warm"),
        row("median first detection after the restore", "first"),
        row("ratio first after the restore / warm", "first / warm", "x", "<= 1.5"),
        row("median restore → first answered (after-restore hooks too)", "restore_to_first"),
        row("ratio restore → first answered / warm", "restore / warm", "x"),
    ]
