"""Helpers for calling our Lambda handlers the way Lambda does."""

from __future__ import annotations

import base64
import importlib
import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any


def fresh_module(name: str) -> ModuleType:
    """Import a handler module anew: a cold start that reads the current environment."""
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def header(response: dict[str, Any], name: str) -> str | None:
    """A response header: payload 2.0 has ``headers``, REST APIs ``multiValueHeaders``."""
    if "multiValueHeaders" in response:
        values = response["multiValueHeaders"].get(name)
        return ", ".join(values) if values else None
    value = response.get("headers", {}).get(name)
    return value if value is None else str(value)


def json_body(response: dict[str, Any]) -> Any:
    assert header(response, "Content-Type") == "application/json"
    return json.loads(response["body"])


def binary_body(response: dict[str, Any]) -> bytes:
    assert response["isBase64Encoded"] is True
    return base64.b64decode(response["body"])


def emf_documents(stdout: str) -> list[dict[str, Any]]:
    """The CloudWatch EMF documents Powertools Metrics printed."""
    documents = []
    for line in stdout.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


@contextmanager
def logs_to_current_stdout(service: str = "detector-test") -> Iterator[None]:
    """Point Powertools' log handler at this test's captured stdout, and back afterwards.

    Powertools keeps one handler per service for the whole process, bound to the stdout of
    the first test that created it; capsys swaps stdout per test.
    """
    handlers = [
        handler
        for handler in logging.getLogger(service).handlers
        if isinstance(handler, logging.StreamHandler)
    ]
    previous = [handler.setStream(sys.stdout) for handler in handlers]
    try:
        yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)
