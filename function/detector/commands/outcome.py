"""What a command gives back: its output on stdout (or in a file) and its exit code."""

from __future__ import annotations

import json
import sys
from pathlib import Path

EXIT_OK = 0
EXIT_SOME_FAILED = 1  # the command ran, but some of its inputs failed (detect: an image)
EXIT_FAILED = 2  # the command could not do its work (also argparse's code for bad usage)
EXIT_INTERRUPTED = 130  # Ctrl-C, as a shell reports SIGINT


def print_result(result: object, output: Path | None = None) -> int:
    """Write ``result`` (JSON unless it is text) to ``output`` or stdout; ``EXIT_OK``."""
    text = (result if isinstance(result, str) else json.dumps(result, indent=2)) + "\n"
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK
