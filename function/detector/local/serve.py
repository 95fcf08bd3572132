"""``detector serve``: the real API handler behind a local HTTP server.

Each request becomes an API Gateway HTTP API (payload format 2.0) event, the way
``sam local start-api`` builds it, and goes to ``detector.handlers.api.lambda_handler``
in this process with a Lambda context; the handler's proxy response is written back.
``GET /`` too: the handler serves the demo page. Bound to 127.0.0.1 unless told
otherwise; Ctrl-C or SIGTERM stops it.
"""

from __future__ import annotations

import base64
import errno
import json
import secrets
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, TextIO, TypeVar
from urllib.parse import parse_qsl, urlsplit

from detector import settings
from detector.errors import DetectorError, KeySourceMissingError, ModelUnavailableError
from detector.local import samples, tokens
from detector.local.context import LocalContext, function_output, set_local_defaults

if TYPE_CHECKING:
    from detector.model.keys import UserKeySource
    from detector.model.store import LoadedModel

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
# Lambda refuses synchronous invocations over 6 MB; refusing here says so before base64.
MAX_BODY_BYTES = 6 * 1024 * 1024
_DRAIN_FACTOR = 4

# The media types API Gateway passes as text; everything else arrives base64-encoded.
_TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")
_TEXT_SUFFIXES = ("+json", "+xml")

LambdaHandler = Callable[[dict[str, Any], Any], Any]
# Powertools' own switch, not one of our settings: without --verbose nobody reads the
# metrics (its cold-start metric is printed all the same).
QUIET = {"POWERTOOLS_METRICS_DISABLED": "true"}


class PortInUseError(DetectorError):
    """Something else listens on the address ``serve`` was asked to bind."""

    code = "port_in_use"


@dataclass(frozen=True)
class Session:
    """What ``configure`` made for this run: a token to print, and the secret if it made one."""

    token: str | None
    secret: str | None = None


@dataclass(frozen=True)
class HttpResponse:
    """What goes back on the wire."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def http_api_event(
    *,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    source_ip: str,
    request_id: str,
    host: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """An HTTP API payload 2.0 event for one request, as API Gateway would send it.

    ``target`` is the request line's path and query; ``headers`` as received (repeats
    allowed). Header names are lowercased and repeats joined with commas; cookies move
    to ``cookies``; a body that is not text goes base64-encoded.
    """
    now = now or datetime.now(UTC)
    url = urlsplit(target)
    joined: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        else:
            joined[lowered] = f"{joined[lowered]},{value}" if lowered in joined else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": url.path,
        "rawQueryString": url.query,
        "headers": joined,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": host,
            "domainPrefix": host.partition(":")[0].partition(".")[0],
            "http": {
                "method": method,
                "path": url.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": joined.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    query: dict[str, str] = {}
    for name, value in parse_qsl(url.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    if query:
        event["queryStringParameters"] = query
    if body:
        if _is_text(joined.get("content-type", "")):
            try:
                event["body"] = body.decode("utf-8")
            except UnicodeDecodeError:
                event["body"] = base64.b64encode(body).decode("ascii")
                event["isBase64Encoded"] = True
        else:
            event["body"] = base64.b64encode(body).decode("ascii")
            event["isBase64Encoded"] = True
    return event


def proxy_response(result: Any) -> HttpResponse:
    """Turn a handler's return value into an HTTP response, as API Gateway (2.0) does.

    A dict with ``statusCode`` is a proxy response (``body`` base64 when
    ``isBase64Encoded``); anything else is sent as JSON with status 200.
    """
    if not (isinstance(result, Mapping) and "statusCode" in result):
        return HttpResponse(
            200, [("content-type", "application/json")], json.dumps(result).encode()
        )
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    for name, values in (result.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), str(value)) for value in values)
    headers.extend(("set-cookie", str(cookie)) for cookie in result.get("cookies") or ())
    raw = result.get("body") or ""
    body = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
    return HttpResponse(int(result["statusCode"]), headers, body)


def error_response(status: HTTPStatus, code: str, message: str, request_id: str) -> HttpResponse:
    """A response in the API's error shape, for what the local server refuses itself."""
    body = {"error": {"code": code, "message": message}, "request_id": request_id}
    return HttpResponse(
        status, [("content-type", "application/json")], json.dumps(body).encode("utf-8")
    )


class LocalApiServer(ThreadingHTTPServer):
    """A threading HTTP server that hands every request to one Lambda handler."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        handler: LambdaHandler,
        *,
        log: TextIO | None = None,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        super().__init__(address, _RequestHandler)
        self.lambda_handler = handler
        self.log = log
        self.max_body_bytes = max_body_bytes
        # Lambda runs one invocation at a time per process, and the handlers rely on it:
        # Powertools keeps the current event, logger keys and metrics in module state.
        # Concurrent requests are read in parallel but invoke the handler in turn.
        self.invocation_lock = threading.Lock()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"


class _RequestHandler(BaseHTTPRequestHandler):
    server: LocalApiServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET  # noqa: N815

    def _handle(self) -> None:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        response = self._respond(request_id)
        self._write(response)
        if self.server.log is not None:
            elapsed = (time.perf_counter() - started) * 1000
            path = urlsplit(self.path).path  # never the query: it may carry user data
            print(
                f"{self.command} {path} {response.status} {elapsed:.0f} ms",
                file=self.server.log,
                flush=True,
            )

    def _respond(self, request_id: str) -> HttpResponse:
        body = self._read_body(request_id)
        if isinstance(body, HttpResponse):
            return body
        event = http_api_event(
            method=self.command,
            target=self.path,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            request_id=request_id,
            host=self.headers.get("host", ""),
        )
        try:
            with self.server.invocation_lock:
                result = self.server.lambda_handler(event, LocalContext(aws_request_id=request_id))
            return proxy_response(result)
        except Exception:
            # What API Gateway answers when the function fails; the trace is for the
            # developer's terminal only (handlers never put secrets in exceptions).
            traceback.print_exc(file=sys.stderr)
            return error_response(
                HTTPStatus.INTERNAL_SERVER_ERROR,
                "internal_error",
                "Internal Server Error",
                request_id,
            )

    def _read_body(self, request_id: str) -> bytes | HttpResponse:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            self.close_connection = True
            return error_response(
                HTTPStatus.LENGTH_REQUIRED,
                "bad_request",
                "send the body with a Content-Length",
                request_id,
            )
        try:
            length = int(self.headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if length < 0:
            self.close_connection = True
            return error_response(
                HTTPStatus.BAD_REQUEST, "bad_request", "invalid Content-Length", request_id
            )
        if length > self.server.max_body_bytes:
            self._discard(length)
            limit_mb = self.server.max_body_bytes / (1024 * 1024)
            return error_response(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                "too_large",
                f"the request body is over {limit_mb:g} MB (the Lambda payload limit); "
                "upload large images to S3 instead",
                request_id,
            )
        return self.rfile.read(length) if length else b""

    def _discard(self, length: int) -> None:
        """Drain a refused body so the client reads our answer instead of a reset;
        a body far over the cap is not read at all: the connection is closed instead."""
        self.close_connection = True
        if length > _DRAIN_FACTOR * self.server.max_body_bytes:
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                return
            length -= len(chunk)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        names = {name.lower() for name, _ in response.headers}
        for name, value in response.headers:
            self.send_header(name, value)
        if "content-length" not in names:
            self.send_header("content-length", str(len(response.body)))
        if self.close_connection:
            self.send_header("connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """Silenced: ``_handle`` logs one line per request, without headers or query."""


def make_server(
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    handler: LambdaHandler | None = None,
    log: TextIO | None = None,
) -> LocalApiServer:
    """Bind the server (``port=0``: a free port); the real API handler unless given one."""
    if handler is None:
        from detector.handlers import api  # noqa: PLC0415 - reads the settings when imported

        handler = api.lambda_handler
    try:
        return LocalApiServer((host, port), handler, log=log)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        raise PortInUseError(
            f"{host}:{port} is already in use: stop what listens there, or give another "
            "port (--port 0 picks a free one)"
        ) from None


def configure(
    environ: MutableMapping[str, str],
    *,
    model: str | Path | None = None,
    user_key: UserKeySource | None = None,
    verbose: bool = False,
) -> Session:
    """Fill in what a local run needs and the user left unset.

    The model: ``model``, else ``MODEL_URI``, else the sample YOLOX-Nano with its class
    names; ``user_key`` replaces the MODEL_KEY_* settings. Auth: when no JWT setting is
    there at all, a random HS256 secret for this session only. A token comes back when
    the secret is known here (``JWT_SECRET``).
    """
    if model is not None:
        environ[settings.MODEL_URI] = str(model)
    elif not environ.get(settings.MODEL_URI):
        environ[settings.MODEL_URI] = str(samples.sample_model_path())
        environ.setdefault(settings.MODEL_NAMES_FILE, str(samples.sample_names_path()))
    if user_key is not None:
        key_settings = {
            settings.MODEL_KEY_SECRET_ID: user_key.secret_id,
            settings.MODEL_KEY_PARAMETER: user_key.parameter,
            settings.MODEL_KEY_B64: user_key.value,
        }
        for name, value in key_settings.items():
            environ[name] = (value or "").strip()
    set_local_defaults(environ)
    for name, value in ({} if verbose else QUIET).items():
        environ.setdefault(name, value)
    jwt_keys = (
        settings.JWT_SECRET,
        settings.JWT_SECRET_ID,
        settings.JWT_PUBLIC_KEY,
        settings.JWT_JWKS_URL,
    )
    made = None
    if not any(environ.get(name) for name in jwt_keys):
        made = environ[settings.JWT_SECRET] = secrets.token_urlsafe(32)
    configured = settings.Settings.from_env(environ)
    if configured.jwt_secret is None:
        return Session(None)
    token = tokens.sign_token(
        configured.jwt_secret,
        subject="local-user",
        scope=configured.jwt_required_scope,
        issuer=configured.jwt_issuer,
        audience=configured.jwt_audience,
    )
    return Session(token, made)


def load_served_model(handler: ModuleType) -> LoadedModel:
    """Load the model into the API handler's own holder now, so that a model that cannot be
    served stops ``serve`` at once instead of failing its first request."""
    try:
        loaded: LoadedModel = handler.model.get()
    except ModelUnavailableError as exc:
        if isinstance(exc.__cause__, KeySourceMissingError):
            raise exc.__cause__ from None  # the command line says how to give the key
        raise
    return loaded


def describe(loaded: LoadedModel) -> str:
    """One line on the model being served: what it is and where it came from."""
    info = loaded.detector.info
    height, width = info.input_size
    kind = "sealed" if loaded.sealed else "plain ONNX"
    return (
        f"Model {loaded.model_id}: {info.family}, {width}x{height} input, "
        f"{len(info.class_names)} classes; {kind}, from {loaded.source} "
        f"(loaded in {loaded.timings_ms.get('total', 0):.0f} ms)"
    )


Server = TypeVar("Server", bound=ThreadingHTTPServer)


@contextmanager
def running(server: Server) -> Iterator[Server]:
    """Serve in a background thread (tests, the JWKS server); shut down and closed on exit."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def serve_forever(server: LocalApiServer) -> None:
    """Serve in this (main) thread until Ctrl-C or SIGTERM; then close the socket."""
    # SIGTERM raises KeyboardInterrupt too, so both unwind the same way.
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()


def serve_session(
    environ: MutableMapping[str, str],
    host: str,
    port: int,
    *,
    model: str | None = None,
    user_key: UserKeySource | None = None,
    verbose: bool = False,
) -> None:
    """``detector serve``: configure, load the model, bind, print where it serves (and a
    token), serve until stopped. Raises our typed errors when it cannot start.

    The function's own logs and metrics are shown (on stderr) only when ``verbose``, so
    that the URL and the token stay in sight.
    """
    out = sys.stdout
    session = configure(environ, model=model, user_key=user_key, verbose=verbose)
    with ExitStack() as stack:
        stack.enter_context(function_output(verbose=verbose))
        from detector.handlers import api  # noqa: PLC0415 - reads the settings when imported

        loaded = load_served_model(api)
        server = make_server(host, port, handler=api.lambda_handler, log=sys.stderr)
        if session.secret:
            stack.enter_context(tokens.saved_session_secret(session.secret))
        lines = [
            f"Serving the API handler on {server.url} (the page: {server.url}/); Ctrl-C stops it.",
            describe(loaded),
        ]
        if session.token:
            lines.append(f"A token for this session (valid 1 hour):\n{session.token}")
        if session.secret:
            lines.append("`detector token` mints another while this runs (this session's secret).")
        print("\n".join(lines), file=out, flush=True)
        serve_forever(server)
    print("Stopped.", file=out)


def _is_text(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type.startswith(_TEXT_TYPES) or media_type.endswith(_TEXT_SUFFIXES)
