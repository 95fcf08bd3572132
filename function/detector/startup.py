"""A cold start with Python's cyclic garbage collector paused, and what it built frozen.

A cold start allocates a few hundred thousand objects that live as long as the process:
modules and classes, botocore's service models, the model's session. The collector scans
every tracked object at each full collection and part of them at the others; during a cold
start that was 40-60 ms, a full pass in the first request alone 34 ms on Python 3.12
(measured with ``gc.callbacks`` through ``awslambdaric``), and none of it found garbage
worth a pass. So importing a handler under a Lambda runtime pauses the collector
(``handlers/__init__.py``), and the end of the first invocation, or the SnapStart hook
before the snapshot, resumes it with everything alive by then frozen: moved out of the
collector's sight for good, so no later collection scans it either. Reference counting
frees objects as always; only cyclic garbage made during the cold start waits.

Outside a Lambda runtime (tests, the CLI, ``detector serve``) nothing is paused: no first
invocation would be sure to come and resume it.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable
from typing import Any, TypeVar

from detector.settings import under_lambda_runtime

Handler = TypeVar("Handler", bound=Callable[..., Any])

_paused = False


def pause() -> None:
    """Pause the collector for the cold start, under a Lambda runtime only."""
    global _paused  # noqa: PLW0603 - one cold start per process
    if under_lambda_runtime() and gc.isenabled():
        gc.disable()
        _paused = True


def resume() -> int:
    """Freeze what the cold start built and let the collector run again (once; what
    ``pause`` did not pause is left as it is). The number of objects frozen."""
    global _paused  # noqa: PLW0603 - one cold start per process
    if not _paused:
        return 0
    _paused = False
    gc.freeze()
    gc.enable()
    return gc.get_freeze_count()


def resumes_after_the_first_call(handler: Handler) -> Handler:
    """``handler``, resuming the collector when its first call returns (or raises)."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            resume()

    return wrapper  # type: ignore[return-value]
