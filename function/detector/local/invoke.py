"""What ``detector invoke`` does: run a handler in-process on an event, as Lambda would."""

from __future__ import annotations

import base64
import contextlib
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from detector.local.context import LocalContext
from detector.local.events import handler_kind


def invoke(event_file: Path, handler: str | None = None, *, body_out: Path | None = None) -> Any:
    """The handler's response to the event in ``event_file`` ('-': stdin).

    ``handler`` is "api" or "s3" (default: from the event's shape); with ``body_out`` an API
    response's body is also written there, base64-decoded.
    """
    text = sys.stdin.read() if str(event_file) == "-" else event_file.read_text()
    event = json.loads(text)
    # The function's own output (JSON logs, EMF metrics) goes to stderr, as in `sam local
    # invoke`, so stdout holds only the response.
    with contextlib.redirect_stdout(sys.stderr):
        module = f"detector.handlers.{handler or handler_kind(event)}"
        response = importlib.import_module(module).lambda_handler(event, LocalContext())
    if body_out and isinstance(response, dict) and "body" in response:
        body = response["body"]
        raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        body_out.write_bytes(raw)
    return response
