"""What ``detector invoke`` does: run a handler in-process on an event, as Lambda would."""

from __future__ import annotations

import base64
import importlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from detector.errors import BadRequestError, ConfigurationError
from detector.local.context import LocalContext, function_output, set_local_defaults
from detector.local.events import handler_kind
from detector.settings import MODEL_URI, Settings

FAILED_STATUS = 500  # an API answer from here up means the function failed


def invoke(
    event_file: Path,
    handler: str | None = None,
    *,
    body_out: Path | None = None,
    verbose: bool = False,
) -> Any:
    """The handler's response to the event in ``event_file`` ('-': stdin).

    ``handler`` is "api" or "s3" (default: from the event's shape); with ``body_out`` an API
    response's body is also written there, base64-decoded. The function's logs and metrics
    go to stderr when ``verbose``, else nowhere. A handler that raises gets the answer
    Lambda gives for it: ``{"errorType": ..., "errorMessage": ...}``.
    """
    text = sys.stdin.read() if str(event_file) == "-" else event_file.read_text()
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise BadRequestError(f"the event in {event_file} is not JSON: {exc}") from None
    # Every route but /health needs the model, and the handlers check auth first: a missing
    # MODEL_URI would come out as a complaint about the token settings.
    if not Settings.from_env().model_uri:
        raise ConfigurationError(
            f"{MODEL_URI} is not set: point it at the model the function serves (a .onnx or "
            "sealed file, or s3://bucket/key), e.g. the sample from `detector fetch-samples`"
        )
    set_local_defaults(os.environ)
    with function_output(verbose=verbose):
        module = f"detector.handlers.{handler or handler_kind(event)}"
        lambda_handler = importlib.import_module(module).lambda_handler
        try:
            response = lambda_handler(event, LocalContext())
        except Exception as exc:  # the Lambda runtime's boundary: the invocation failed
            return lambda_error(exc)
    if body_out and isinstance(response, dict) and "body" in response:
        body = response["body"]
        raw = base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()
        body_out.write_bytes(raw)
    return response


def lambda_error(exc: Exception) -> dict[str, str]:
    """What Lambda answers for a function that raised (without the stack trace, which goes
    to the function's log). An SQS batch that failed whole carries its records' errors."""
    message = str(exc.args[0]) if exc.args else type(exc).__name__
    children = getattr(exc, "child_exceptions", None) or ()
    reasons = [str(child[1]) for child in children if len(child) > 1]
    if reasons:
        message = f"{message.rstrip('.')}: {'; '.join(reasons)}"
    return {"errorType": type(exc).__name__, "errorMessage": message}


def failure(response: Any) -> str | None:
    """What went wrong in the function, if its response says it failed: it raised, it
    answered 500 or more, or an SQS batch reports records as failed."""
    if not isinstance(response, Mapping):
        return None
    if "errorType" in response:
        return f"the function raised {response['errorType']}: {response.get('errorMessage')}"
    status = response.get("statusCode")
    if isinstance(status, int) and status >= FAILED_STATUS:
        return f"the function answered {status}: {_error_of(response)}"
    failed = response.get("batchItemFailures")
    if failed:
        ids = ", ".join(str(item.get("itemIdentifier")) for item in failed)
        return f"{len(failed)} record(s) failed and would be retried: {ids}"
    return None


def _error_of(response: Mapping[str, Any]) -> str:
    try:
        error = json.loads(response.get("body") or "{}")["error"]
        return f"{error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return "no error document in the body"
