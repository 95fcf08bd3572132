"""What a cold start imports: the API handler run by AWS's runtime client in a fresh process.

A probe handler wraps the real one and, when asked, answers with the process's
``sys.modules``. These catch an import that creeps back onto the cold-start path: the X-Ray
SDK with tracing off (its recorder builds a botocore client at import), Powertools'
parameters utility without a secret to read, the drawing code for a request that draws
nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from detector.local import events
from detector.local.runtime_api import LambdaProcess, RuntimeApi
from detector.local.tokens import sign_token

SECRET = "a-local-test-secret-of-at-least-32-bytes!"
PROBE = """
    import gc
    import sys
    from detector.handlers import api

    AT_IMPORT = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}

    def handler(event, context):
        if event.get("probe") == "modules":
            return sorted(sys.modules)
        if event.get("probe") == "collector":
            now = {"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}
            return {"at_import": AT_IMPORT, "now": now}
        return api.lambda_handler(event, context)
"""


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    root.mkdir()
    (root / "probe.py").write_text(textwrap.dedent(PROBE))
    return root


@pytest.fixture
def token() -> str:
    return sign_token(SECRET, subject="cold", scope="detect")


def function_env(model_path: Path, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "MODEL_URI": str(model_path),
        "MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "JWT_SECRET": SECRET,
        "POWERTOOLS_LOG_LEVEL": "WARNING",
        **extra,
    }


@pytest.fixture
def runtime(task_root: Path) -> Iterator[Any]:
    """Start ``probe.handler`` under awslambdaric with the given environment."""
    started: list[LambdaProcess] = []
    with RuntimeApi() as api:

        def start(env: dict[str, str]) -> LambdaProcess:
            process = LambdaProcess.start("probe.handler", api, env=env, task_root=task_root)
            started.append(process)
            return process

        yield start
        for process in started:
            process.close()


def detect(function: LambdaProcess, image: bytes, token: str, **query: str) -> dict[str, Any]:
    event = events.api_event(
        "http", "POST", "/detect", body=image, content_type="image/jpeg", token=token, query=query
    )
    answer = function.invoke(event)
    assert answer.outcome == "response", function.output()
    response: dict[str, Any] = answer.json()
    assert response["statusCode"] == 200, response
    return response


def modules(function: LambdaProcess) -> set[str]:
    return set(function.invoke({"probe": "modules"}).json())


def xray(names: set[str]) -> set[str]:
    return {name for name in names if name.split(".")[0] == "aws_xray_sdk"}


def test_with_tracing_off_nothing_of_the_xray_sdk_is_ever_imported(
    runtime, model_path: Path, dog_jpg: Path, tmp_path: Path, token: str
) -> None:
    # GIVEN the API handler with tracing off, where Lambda runs it (LAMBDA_TASK_ROOT set)
    function = runtime(function_env(model_path, tmp_path, POWERTOOLS_TRACE_DISABLED="true"))
    # WHEN it starts cold and answers detections
    detect(function, dog_jpg.read_bytes(), token)
    detect(function, dog_jpg.read_bytes(), token, annotate="true")
    # THEN no module of the X-Ray SDK was ever loaded
    assert xray(modules(function)) == set()


def test_with_tracing_on_the_xray_sdk_traces_the_requests(
    runtime, model_path: Path, dog_jpg: Path, tmp_path: Path, token: str
) -> None:
    # the other side of the switch: tracing on does load the SDK, and still answers
    function = runtime(function_env(model_path, tmp_path, POWERTOOLS_TRACE_DISABLED="false"))
    detect(function, dog_jpg.read_bytes(), token)
    assert "aws_xray_sdk.core" in xray(modules(function))


def test_a_request_imports_only_what_it_needs(
    runtime, model_path: Path, dog_jpg: Path, tmp_path: Path, token: str
) -> None:
    # GIVEN a token secret given directly (no Secrets Manager) and tracing off
    function = runtime(function_env(model_path, tmp_path, POWERTOOLS_TRACE_DISABLED="true"))
    # WHEN a detection is asked for without a drawing
    detect(function, dog_jpg.read_bytes(), token)
    loaded = modules(function)
    # THEN neither Powertools' parameters utility, its event handler (our router does its
    # job at a tenth of the import) nor the drawing code was loaded
    assert "aws_lambda_powertools.utilities.parameters" not in loaded
    assert "aws_lambda_powertools.event_handler" not in loaded
    assert "detector.pipeline.annotate" not in loaded
    assert "PIL.ImageDraw" not in loaded
    # and a request for the drawing loads it then
    detect(function, dog_jpg.read_bytes(), token, annotate="true")
    assert "detector.pipeline.annotate" in modules(function)


@pytest.mark.parametrize("handler", ["api", "s3"])
def test_neither_handler_imports_powertools_event_parsing_or_batch_utilities(
    handler: str, model_path: Path, tmp_path: Path
) -> None:
    # GIVEN a handler module imported as Lambda imports it, in a fresh interpreter
    code = f"import sys, detector.handlers.{handler}; print(' '.join(sorted(sys.modules)))"
    env = {**os.environ, **function_env(model_path, tmp_path, POWERTOOLS_TRACE_DISABLED="true")}
    env |= {"LAMBDA_TASK_ROOT": str(tmp_path), "INPUT_BUCKETS": "uploads"}
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    loaded = set(done.stdout.split())
    # THEN none of the Powertools packages whose imports cost ~100 ms is loaded: their
    # resolvers, batch processor and event classes (with asyncio) are replaced by our own
    # few lines (detector.proxy, handlers.s3.process_sqs_batch)
    assert "detector.handlers." + handler in loaded
    heavy = {
        "aws_lambda_powertools.event_handler",
        "aws_lambda_powertools.utilities.batch",
        "aws_lambda_powertools.utilities.data_classes",
        "asyncio",
    }
    assert heavy & loaded == set()


def test_the_collector_is_paused_for_the_cold_start_and_resumes_with_it_frozen(
    runtime, model_path: Path, dog_jpg: Path, tmp_path: Path, token: str
) -> None:
    # GIVEN the API handler started by the runtime client, as Lambda starts it
    function = runtime(function_env(model_path, tmp_path, POWERTOOLS_TRACE_DISABLED="true"))
    # WHEN it answers its first detection
    detect(function, dog_jpg.read_bytes(), token)
    collector = function.invoke({"probe": "collector"}).json()
    # THEN the collector was paused while the handler was imported, nothing frozen yet
    assert collector["at_import"] == {"enabled": False, "frozen": 0}
    # and runs again after the first answer, with what the cold start built (modules,
    # classes, the session: ~90,000 objects from a local model) out of its sight
    assert collector["now"]["enabled"] is True
    assert collector["now"]["frozen"] > 50_000
