"""A local Lambda Runtime API, for running handlers under AWS's own runtime client.

``python -m awslambdaric MODULE.FUNCTION`` (what the Lambda Python base image runs) talks to
the Runtime API at ``AWS_LAMBDA_RUNTIME_API``: it imports the handler, then asks for
invocations and posts their answers, and with ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``
runs the before-snapshot hooks, waits on ``restore/next`` and runs the after-restore hooks.
This module serves the documented endpoints on ``127.0.0.1``, so that a cold start, a
SnapStart cycle or a warm invocation can be run and timed exactly as Lambda's bootstrap
does it, without Lambda::

    with RuntimeApi() as api, LambdaProcess.start("detector.handlers.api.lambda_handler", api,
                                                   env=environ) as function:
        answer = function.invoke({"rawPath": "/health", ...})
        answer.json(), answer.answered_at - function.started_at

Endpoints (``/2018-06-01/runtime``): ``GET invocation/next`` (long poll; the
``Lambda-Runtime-*`` headers), ``POST invocation/{id}/response`` and ``.../error``,
``POST init/error``, ``GET restore/next`` and ``POST restore/error``. Every call is kept,
timestamped with ``time.perf_counter()`` in this process, in ``RuntimeApi.calls``.
Laptop tooling: the function never imports it.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self, TypeVar

from detector.local.events import ACCOUNT, REGION

PREFIX = "/2018-06-01/runtime"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
# How often a waiting long poll looks up from its queue to see whether the server closes.
_POLL_SECONDS = 0.05
T = TypeVar("T")


@dataclass
class Invocation:
    """One event handed to the runtime, and what came back; times are ``perf_counter()``."""

    request_id: str
    payload: bytes = field(repr=False)
    queued_at: float
    delivered_at: float | None = None  # the runtime's GET invocation/next returned it
    answered_at: float | None = None  # its response or error arrived
    outcome: str | None = None  # "response" or "error"
    body: bytes = field(default=b"", repr=False)
    content_type: str | None = None
    error_type: str | None = None  # the Lambda-Runtime-Function-Error-Type header
    done: threading.Event = field(default_factory=threading.Event, repr=False)

    def json(self) -> Any:
        """The handler's answer (or awslambdaric's error document), parsed."""
        return json.loads(self.body)


@dataclass(frozen=True)
class RuntimeCall:
    """A call of the runtime other than an answer: ``next``, ``init_error``, ``restore_next``,
    ``restore_error``; the error calls keep their body and error type."""

    kind: str
    at: float
    body: bytes = field(default=b"", repr=False)
    error_type: str | None = None

    def json(self) -> Any:
        return json.loads(self.body)


class RuntimeExitedError(RuntimeError):
    """The runtime process ended while an answer was awaited."""


class RuntimeApi:
    """The Runtime API on ``127.0.0.1:<free port>``; a context manager.

    ``hold_restore=True`` keeps ``GET restore/next`` waiting until ``release_restore()``:
    the moment Lambda would snapshot the process, which a test can then look at.
    """

    def __init__(
        self,
        *,
        function_name: str = "detector-local",
        timeout_seconds: float = 30.0,
        hold_restore: bool = False,
        port: int = 0,
    ) -> None:
        self.function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{function_name}"
        self.timeout_seconds = timeout_seconds
        self.calls: list[RuntimeCall] = []
        self._port = port
        self._pending: queue.Queue[Invocation] = queue.Queue()
        self._invocations: dict[str, Invocation] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._restore = threading.Event()
        if not hold_restore:
            self._restore.set()
        self._closing = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.api = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="runtime-api")
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._closing.set()
        self._restore.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join()

    @property
    def address(self) -> str:
        """``127.0.0.1:PORT``: the value of ``AWS_LAMBDA_RUNTIME_API``."""
        if self._server is None:
            raise RuntimeError("the Runtime API is not running: use it as `with RuntimeApi()`")
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    # --- the caller's side ----------------------------------------------------------------
    def submit(self, event: Any, *, request_id: str | None = None) -> Invocation:
        """Queue ``event`` (JSON-encoded unless it is bytes) for the runtime's next poll."""
        payload = event if isinstance(event, bytes) else json.dumps(event).encode()
        invocation = Invocation(request_id or str(uuid.uuid4()), payload, time.perf_counter())
        with self._lock:
            self._invocations[invocation.request_id] = invocation
        self._pending.put(invocation)
        return invocation

    def release_restore(self) -> None:
        """Let a held ``GET restore/next`` return: the runtime goes on to after-restore."""
        self._restore.set()

    def wait_for_call(
        self, kind: str, *, timeout: float, process: subprocess.Popen[bytes] | None = None
    ) -> RuntimeCall:
        """The first call of ``kind``; raises TimeoutError, or RuntimeExitedError when the
        ``process`` ends first."""
        return self._wait(lambda: self._first_call(kind), timeout, process)

    def wait_answer(
        self,
        invocation: Invocation,
        *,
        timeout: float,
        process: subprocess.Popen[bytes] | None = None,
    ) -> Invocation:
        """``invocation`` once answered; raises TimeoutError, or RuntimeExitedError."""
        return self._wait(
            lambda: invocation if invocation.done.is_set() else None, timeout, process
        )

    def _first_call(self, kind: str) -> RuntimeCall | None:
        return next((call for call in self.calls if call.kind == kind), None)

    def _wait(
        self,
        found: Callable[[], T | None],
        timeout: float,
        process: subprocess.Popen[bytes] | None,
    ) -> T:
        deadline = time.monotonic() + timeout
        with self._changed:
            while (result := found()) is None:
                if process is not None and process.poll() is not None:
                    raise RuntimeExitedError(self._exit_story(process.returncode))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"no answer from the runtime within {timeout} s")
                # Short waits: a process that dies says nothing to this condition.
                self._changed.wait(min(remaining, _POLL_SECONDS))
            return result

    def _exit_story(self, code: int) -> str:
        reported = "; ".join(
            f"{call.kind} {call.error_type}: {call.body.decode(errors='replace')}"
            for call in self.calls
            if call.kind in ("init_error", "restore_error")
        )
        return f"the runtime exited with status {code}" + (f" after {reported}" if reported else "")

    # --- the runtime's side (called from the HTTP handler threads) -------------------------
    def _record(self, call: RuntimeCall) -> None:
        with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    def _next_invocation(self) -> Invocation | None:
        self._record(RuntimeCall("next", time.perf_counter()))
        while not self._closing.is_set():
            try:
                invocation = self._pending.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            invocation.delivered_at = time.perf_counter()
            return invocation
        return None

    def _headers_for(self, invocation: Invocation) -> dict[str, str]:
        deadline_ms = int((time.time() + self.timeout_seconds) * 1000)
        # X-Ray's format: Root=1-<epoch seconds, hex>-<96 random bits>; not sampled, so an
        # SDK that traces builds its segments but sends nothing.
        root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
        trace = f"Root={root};Parent={secrets.token_hex(8)};Sampled=0"
        return {
            "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
            "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
            "Lambda-Runtime-Invoked-Function-Arn": self.function_arn,
            "Lambda-Runtime-Trace-Id": trace,
            "Content-Type": "application/json",
        }

    def _answer(self, request_id: str, outcome: str, body: bytes, headers: Any) -> bool:
        with self._changed:
            invocation = self._invocations.get(request_id)
            if invocation is None or invocation.done.is_set():
                return False
            invocation.answered_at = time.perf_counter()
            invocation.outcome = outcome
            invocation.body = body
            invocation.content_type = headers.get("Content-Type")
            invocation.error_type = headers.get(ERROR_TYPE_HEADER)
            invocation.done.set()
            self._changed.notify_all()
        return True

    def _restore_next(self) -> None:
        self._record(RuntimeCall("restore_next", time.perf_counter()))
        while not self._restore.wait(_POLL_SECONDS):
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a long poll still waiting must not hold up the exit
    api: RuntimeApi

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet about a runtime that was stopped mid-connection, loud about anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # awslambdaric's native client keeps one HTTP/1.1 connection open, with TCP_NODELAY.
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    server: _Server

    @property
    def api(self) -> RuntimeApi:
        return self.server.api

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the calls are in ``RuntimeApi.calls``."""

    def do_GET(self) -> None:
        if self.path == f"{PREFIX}/invocation/next":
            invocation = self.api._next_invocation()
            if invocation is None:
                self._reply(HTTPStatus.SERVICE_UNAVAILABLE, {"errorType": "Shutdown"})
                return
            self._reply(HTTPStatus.OK, invocation.payload, self.api._headers_for(invocation))
        elif self.path == f"{PREFIX}/restore/next":
            self.api._restore_next()
            self._reply(HTTPStatus.OK, b"")
        else:
            self._not_found()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        parts = self.path.removeprefix(PREFIX + "/").split("/")
        now = time.perf_counter()
        error_type = self.headers.get(ERROR_TYPE_HEADER)
        if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
            if self.api._answer(parts[1], parts[2], body, self.headers):
                self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
            else:
                message = f"no invocation {parts[1]} awaits an answer"
                self._reply(
                    HTTPStatus.BAD_REQUEST,
                    {"errorType": "InvalidRequestID", "errorMessage": message},
                )
        elif parts == ["init", "error"]:
            self.api._record(RuntimeCall("init_error", now, body, error_type))
            self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
        elif parts == ["restore", "error"]:
            self.api._record(RuntimeCall("restore_error", now, body, error_type))
            self._reply(HTTPStatus.ACCEPTED, {"status": "OK"})
        else:
            self._not_found()

    def _not_found(self) -> None:
        message = f"no such Runtime API endpoint: {self.command} {self.path}"
        self._reply(HTTPStatus.NOT_FOUND, {"errorType": "NotFound", "errorMessage": message})

    def _reply(
        self,
        status: HTTPStatus,
        body: bytes | dict[str, str],
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            for name, value in (headers or {"Content-Type": "application/json"}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the runtime was stopped: nobody reads the answer


def lambda_environ(
    handler: str, api: RuntimeApi, *, task_root: Path, memory_mb: int = 1769
) -> dict[str, str]:
    """The variables Lambda defines for a function (those a handler or the runtime reads)."""
    name = api.function_arn.rsplit(":", 1)[-1]
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return {
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "_HANDLER": handler,
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(task_root),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_python{version}",
        "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "TZ": ":UTC",
    }


class LambdaProcess:
    """``python -m awslambdaric HANDLER`` against a ``RuntimeApi``; a context manager.

    ``started_at`` (``perf_counter()``) is taken just before the process is created: an
    invocation's ``answered_at - started_at`` is the whole cold start as the caller saw it.
    The process's output (its logs) goes to a file, read back by ``output()``.
    """

    def __init__(
        self, popen: subprocess.Popen[bytes], api: RuntimeApi, started_at: float, log: IO[bytes]
    ) -> None:
        self.popen = popen
        self.api = api
        self.started_at = started_at
        self._log = log

    @classmethod
    def start(
        cls,
        handler: str,
        api: RuntimeApi,
        *,
        env: dict[str, str] | None = None,
        task_root: Path | None = None,
        snap_start: bool = False,
        python: str = sys.executable,
        inherit_environ: bool = True,
    ) -> LambdaProcess:
        """Start the runtime on ``handler``; ``env`` adds to (and wins over) this process's
        environment and Lambda's variables. ``inherit_environ=False``: ``env`` is the whole
        environment (besides Lambda's variables), nothing of this process's is added back.
        ``snap_start``: initialise for a snapshot (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``
        rather than ``on-demand``)."""
        root = task_root or Path.cwd()
        inherited = os.environ if inherit_environ else {}
        environ = {**inherited, **lambda_environ(handler, api, task_root=root), **(env or {})}
        if snap_start:
            environ["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
        log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()
        started_at = time.perf_counter()
        popen = subprocess.Popen(  # noqa: S603 - our interpreter, a handler name we were given
            [python, "-m", "awslambdaric", handler],
            cwd=root,
            env=environ,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        return cls(popen, api, started_at, log)

    def invoke(self, event: Any, *, timeout: float = 60.0) -> Invocation:
        """Queue ``event`` and wait for its answer (``outcome`` says response or error)."""
        return self.api.wait_answer(self.api.submit(event), timeout=timeout, process=self.popen)

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.popen.wait(timeout)

    def output(self) -> str:
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def stop(self) -> None:
        """End the process (it waits on ``invocation/next`` forever otherwise)."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(10)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def close(self) -> None:
        """Stop the process and drop its output."""
        self.stop()
        self._log.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
