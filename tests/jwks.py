"""A tiny JWKS endpoint on 127.0.0.1 for tests: real HTTP, real keys, counts its fetches."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class JwksServer:
    """What the server publishes (``keys``) and how often it was asked (``fetches``)."""

    url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    fetches: int = 0


@contextmanager
def serve_jwks(keys: list[dict[str, Any]]) -> Iterator[JwksServer]:
    state = JwksServer(keys=list(keys))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.fetches += 1
            body = json.dumps({"keys": state.keys}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            """Keep test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def unused_local_url() -> str:
    """A URL on 127.0.0.1 where nothing listens: the JWKS endpoint is down."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/.well-known/jwks.json"


# --- a hostile endpoint: raw bytes, at any pace, over plain TCP or TLS -----------------------
DRIP_SECONDS = 0.02  # a 500-byte answer takes 10 s this way


@dataclass
class RawServer:
    """What the endpoint did: requests read, bytes sent, and how its last answer ended."""

    answer: bytes | None = None  # what the next request gets; None: no answer at all
    drip_after: int | None = None  # send this many bytes at once, then one byte at a time
    url: str = ""
    requests: int = 0
    sent: int = 0
    finished: threading.Event = field(default_factory=threading.Event)  # answer sent in full
    hung_up: threading.Event = field(default_factory=threading.Event)  # the client went away
    stopping: threading.Event = field(default_factory=threading.Event)


def http_answer(
    body: bytes, status: str = "200 OK", headers: dict[str, str] | None = None
) -> bytes:
    """A whole HTTP/1.1 answer: status line, headers (Content-Length unless given), body."""
    fields = {"Content-Type": "application/json", "Content-Length": str(len(body))}
    fields.update(headers or {})
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items() if value)
    return f"HTTP/1.1 {status}\r\n{head}Connection: close\r\n\r\n".encode() + body


@contextmanager
def serve_raw(
    answer: bytes | None,
    *,
    drip_after: int | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[RawServer]:
    """An endpoint on 127.0.0.1 that reads a request and writes ``answer`` as it is.

    ``drip_after``: that many bytes at once, the rest one byte every DRIP_SECONDS.
    ``answer`` None: it never answers (the connection stays open). ``tls``: the server
    side of a TLS connection. Both can be changed on the state between requests.
    """
    state = RawServer(answer=answer, drip_after=drip_after)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.05)
    scheme = "https" if tls else "http"
    state.url = f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/.well-known/jwks.json"

    def respond(conn: socket.socket) -> None:
        try:
            if tls:
                conn = tls.wrap_socket(conn, server_side=True)
            with conn:
                conn.settimeout(2)
                if not _read_request(conn):
                    return
                state.requests += 1
                answer, drip_after = state.answer, state.drip_after
                if answer is None:
                    state.stopping.wait()
                    return
                if drip_after is None:
                    conn.sendall(answer)
                    state.sent += len(answer)
                else:
                    conn.sendall(answer[:drip_after])
                    state.sent += len(answer[:drip_after])
                    for byte in answer[drip_after:]:
                        if state.stopping.wait(DRIP_SECONDS):
                            return
                        conn.sendall(bytes([byte]))
                        state.sent += 1
                state.finished.set()
        except OSError:  # ssl.SSLError is one
            state.hung_up.set()

    def accept() -> None:
        while not state.stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=respond, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.stopping.set()
        thread.join()
        listener.close()


def _read_request(conn: socket.socket) -> bool:
    """Read up to the end of the request's headers (a GET has no body); False: no request."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk or len(data) > 65536:
            return False
        data += chunk
    return True
