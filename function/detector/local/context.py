"""A Lambda context object for running handlers in-process (``detector invoke``)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field

from detector.local.events import ACCOUNT, REGION


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
