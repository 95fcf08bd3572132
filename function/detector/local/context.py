"""Running handlers in this process: a Lambda context object, and where their output goes."""

from __future__ import annotations

import io
import sys
import time
import uuid
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass, field

from detector.local.events import ACCOUNT, REGION
from detector.settings import SERVICE_NAME, Settings

# What a handler run here needs that Lambda and the template give it: a service name (the
# loggers of modules below the handler find the handler's logger by it; without it they
# print on stderr), and no tracing (no X-Ray daemon runs here).
LOCAL_DEFAULTS = {SERVICE_NAME: Settings.service_name, "POWERTOOLS_TRACE_DISABLED": "true"}


@dataclass
class LocalContext:
    """The attributes of ``awslambdaric``'s context that Powertools and our handlers read."""

    function_name: str = "detector-local"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 3008
    timeout_seconds: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(default=0.0, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_seconds

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return f"{time.strftime('%Y/%m/%d')}/[{self.function_version}]{self.aws_request_id[:32]}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class _Discard(io.TextIOBase):
    """A text stream that drops what it is given and is never closed."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)


_DISCARDED = _Discard()


def set_local_defaults(environ: MutableMapping[str, str]) -> None:
    """``LOCAL_DEFAULTS`` where the user set nothing else."""
    for name, value in LOCAL_DEFAULTS.items():
        environ.setdefault(name, value)


@contextmanager
def function_output(*, verbose: bool) -> Iterator[None]:
    """Where a handler imported and run in this block writes its JSON logs and EMF metrics.

    The function writes them to stdout, as Lambda wants; here stdout is the command's own
    answer. They go to stderr when ``verbose``, else nowhere. Import the handler inside
    the block: its logger keeps the stream it finds then.
    """
    with redirect_stdout(sys.stderr if verbose else _DISCARDED):
        yield
