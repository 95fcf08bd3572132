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
    text = (result if isinstance(result, str) else readable_json(result)) + "\n"
    if output:
        output.write_text(text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def readable_json(value: object, indent: str = "") -> str:
    """JSON indented by object, with each list of plain values on one line: 80 class names
    are one line, not 80."""
    inner = indent + "  "
    if isinstance(value, dict) and value:
        items = (
            f"{inner}{json.dumps(str(k))}: {readable_json(v, inner)}" for k, v in value.items()
        )
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    if isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
        items = (f"{inner}{readable_json(v, inner)}" for v in value)
        return "[\n" + ",\n".join(items) + f"\n{indent}]"
    return json.dumps(value)
