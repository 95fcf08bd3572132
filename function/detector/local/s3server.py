"""A real local AWS endpoint (S3, Secrets Manager, KMS, SSM): moto's server on 127.0.0.1.

``with LocalAws() as aws:`` starts moto's threaded server on a free port, resets its state,
and stops it on exit. ``aws.environ()`` is what a boto3 client (ours, in this process or
a child) needs to talk to it instead of AWS: dummy credentials, a region, and the endpoint.
moto is a development dependency only, so it is imported when the server starts.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

DEFAULT_REGION = "us-east-1"


class LocalAws:
    """moto's server on ``127.0.0.1:<free port>`` (by default); a context manager."""

    def __init__(
        self, *, region: str = DEFAULT_REGION, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.region = region
        # Another host is for a container that must reach it (`sam local`); port 0: a free one.
        self.host = host
        self.port = port
        self._server: Any = None
        self._endpoint_url: str | None = None

    def __enter__(self) -> Self:
        from moto.server import ThreadedMotoServer  # noqa: PLC0415 - dev dependency

        # werkzeug logs every request moto serves to stderr; the demo prints its own story.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        _, port = server.get_host_and_port()
        self._server = server
        # A wildcard bind is still reached through the loopback address from this machine.
        reachable = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host  # noqa: S104
        self._endpoint_url = f"http://{reachable}:{port}"
        # moto keeps its accounts in process-wide state: start from an empty one.
        reset = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 URL
            f"{self._endpoint_url}/moto-api/reset", method="POST"
        )
        with urllib.request.urlopen(reset, timeout=10):  # noqa: S310 - our own http://127.0.0.1 URL
            pass
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
            self._endpoint_url = None

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``; only while the server runs."""
        if self._endpoint_url is None:
            raise RuntimeError("the local AWS endpoint is not running: use it as `with LocalAws()`")
        return self._endpoint_url

    def environ(self) -> dict[str, str]:
        """Environment for boto3 clients: every service goes to this endpoint, never AWS."""
        return {
            # botocore's own names (not ours): endpoint for all services, and credentials
            # that only moto accepts, so nothing here can ever reach a real account.
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
        }

    @contextmanager
    def activated(self) -> Iterator[None]:
        """Point this process's environment at the endpoint; restored on exit."""
        saved = dict(os.environ)
        # A named profile would win over the credentials below in botocore's chain.
        for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE"):
            os.environ.pop(name, None)
        os.environ.update(self.environ())
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def client(self, service: str) -> Any:
        """A boto3 client for ``service`` on this endpoint."""
        import boto3  # noqa: PLC0415

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",  # noqa: S106 - moto's dummy credential
        )
