"""The `detector` command as a user runs it: a subprocess, `python -m detector`."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def detector(
    *args: str | Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``detector ARGS`` to the end; ``env`` is laid over this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "detector", *map(str, args)],
        env={**os.environ, "PYTHONPATH": str(REPO / "function"), **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
