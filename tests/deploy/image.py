"""What the container image holds, read from function/Dockerfile and function/.dockerignore.

The pure-environment test lays out the function code exactly as the image build does, from
these two files, so that a change to either is a change to what the test runs.
"""

from __future__ import annotations

import fnmatch
import json
import re
import shutil
from pathlib import Path
from typing import Any

from tests.deploy.conftest import FUNCTION_DIR

DOCKERFILE = FUNCTION_DIR / "Dockerfile"
DOCKERIGNORE = FUNCTION_DIR / ".dockerignore"


def dockerfile_cmd() -> list[str]:
    """The image's default command: the API handler's module path."""
    match = re.search(r"^CMD (\[.*\])$", DOCKERFILE.read_text(), re.MULTILINE)
    assert match, "the Dockerfile has no exec-form CMD"
    command: list[str] = json.loads(match.group(1))
    return command


def handler_paths(template: dict[str, Any]) -> dict[str, str]:
    """Function -> the handler it runs: the Dockerfile's CMD unless ImageConfig overrides it."""
    paths = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::Serverless::Function":
            config = resource["Properties"].get("ImageConfig", {})
            paths[name] = config.get("Command", dockerfile_cmd())[0]
    return paths


def _ignore_patterns() -> list[str]:
    lines = (line.strip() for line in DOCKERIGNORE.read_text().splitlines())
    return [line.rstrip("/") for line in lines if line and not line.startswith("#")]


def _excluded(relative: str, patterns: list[str]) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: end + 1]) for end in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        glob = pattern.removeprefix("!")
        if any(fnmatch.fnmatchcase(candidate, glob) for candidate in candidates):
            excluded = not negated
    return excluded


def context_files() -> list[str]:
    """The files of function/ that reach the Docker build, as paths relative to it."""
    patterns = _ignore_patterns()
    files = (path.relative_to(FUNCTION_DIR).as_posix() for path in FUNCTION_DIR.rglob("*"))
    return sorted(
        relative
        for relative in files
        if (FUNCTION_DIR / relative).is_file() and not _excluded(relative, patterns)
    )


def copy_package(task_root: Path) -> Path:
    """Copy the `detector` package into ``task_root`` as the image has it; return the root."""
    for relative in context_files():
        if relative.startswith("detector/"):
            target = task_root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(FUNCTION_DIR / relative, target)
    return task_root
