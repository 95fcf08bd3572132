"""The README stays true to the code: its configuration tables, and its commands, which
run as a reader pastes them (those that can run on this machine are marked and run here)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import pytest

from detector import settings
from detector.local import samples

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.MULTILINE)


def section(title: str) -> str:
    """The text under the ``## title`` heading, up to the next ``## `` heading."""
    text = README.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def constants(module: object, suffix: str = "") -> set[str]:
    """The environment variable names a module declares as UPPER_CASE string constants."""
    return {
        value
        for name, value in vars(module).items()
        if name.isupper() and not name.startswith("_") and isinstance(value, str)
        if name.endswith(suffix) and re.fullmatch(r"[A-Z][A-Z0-9_]*", value)
    }


def test_every_setting_has_a_row_in_the_configuration_table_and_no_row_is_invented():
    documented = set(_ROW.findall(section("Configuration")))
    declared = constants(settings)
    assert declared, "settings.py declares no environment variable names"
    assert declared - documented == set(), "settings missing from the README table"
    assert documented - declared == set(), "README rows that are not settings"


def test_every_local_tooling_variable_is_documented():
    documented = set(_ROW.findall(section("Local tooling")))
    assert constants(samples, suffix="_ENV") == documented


# --- the command blocks ------------------------------------------------------------------
# A block the README marks as one that works on this machine, as a user pastes it.
_RUNNABLE = re.compile(
    r"<!-- runnable(?P<serve>, with detector serve running)? -->\n```bash\n(?P<code>.*?)```",
    re.DOTALL,
)
_BASH = re.compile(r"```bash\n(.*?)```", re.DOTALL)
# The tools a reader runs from the repository's virtualenv, where a command starts.
_COMMAND = re.compile(r"(?:^|\$\(|&&|\|\||;|\|)\s*(detector|pytest|python|ruff|mypy)\b", re.M)
_ASSIGNED = re.compile(r"^(?:export\s+)?((?:[A-Z_][A-Z0-9_]*=\S*\s*)+)", re.MULTILINE)
_USED = re.compile(r"\$\{?([A-Z_][A-Z0-9_]*)(:-)?")
_SERVING = re.compile(r"Serving the API handler on (http://[\d.]+:\d+)")


def bash_blocks() -> list[str]:
    return _BASH.findall(README.read_text(encoding="utf-8"))


def runnable_blocks() -> list[tuple[str, bool]]:
    text = README.read_text(encoding="utf-8")
    return [(match["code"], bool(match["serve"])) for match in _RUNNABLE.finditer(text)]


def test_commands_are_run_from_the_virtualenv_as_the_setup_makes_it():
    bare = [
        line.strip()
        for block in bash_blocks()
        for line in block.splitlines()
        if _COMMAND.search(line.split("#")[0])
    ]
    assert bare == []


def test_every_variable_a_block_uses_is_set_in_that_block():
    for block in bash_blocks():
        code = "\n".join(line.split(" #")[0] for line in block.splitlines())
        assigned = {
            part.split("=")[0] for match in _ASSIGNED.finditer(code) for part in match[1].split()
        }
        unset = {name for name, has_default in _USED.findall(code) if not has_default} - assigned
        assert unset == set(), block


def test_the_readme_marks_the_blocks_a_test_can_run():
    marked = runnable_blocks()
    assert sum(1 for _, needs_serve in marked if needs_serve) >= 2
    assert sum(1 for _, needs_serve in marked if not needs_serve) >= 3


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A folder where the README's commands run as in a fresh clone: the virtualenv as
    `make setup` makes it, `../shared` beside it, nothing made by an earlier command."""
    work = tmp_path / "clone"
    work.mkdir()
    (work / ".venv").symlink_to(REPO / ".venv")
    shared = tmp_path / "shared"
    (shared / "models").mkdir(parents=True)
    (shared / "data" / "samples").mkdir(parents=True)
    (shared / "models" / "yolox_nano.onnx").symlink_to(samples.sample_model_path())
    (shared / "data" / "samples" / "dog.jpg").symlink_to(samples.sample_image_path())
    (shared / "data" / "coco-val64").symlink_to(samples.coco_dir())
    return work


def clone_env(clone: Path) -> dict[str, str]:
    """This environment without the function's settings: the reader's shell."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("MODEL_", "JWT_", "AWS_", "DETECTOR_"))
    }
    env.update(
        DETECTOR_SHARED_DIR=str(clone.parent / "shared"),
        DETECTOR_CACHE_DIR=str(clone.parent / "cache"),
    )
    return env


@contextmanager
def serving(clone: Path, env: dict[str, str]) -> Iterator[str]:
    """`detector serve` running in the clone, as the README's earlier block starts it."""
    log = clone.parent / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [".venv/bin/detector", "serve", "--port", "0"],
            cwd=clone,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while not (found := _SERVING.search(log.read_text(errors="replace"))):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        yield found[1]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)


@pytest.mark.parametrize(
    ("code", "needs_serve"),
    runnable_blocks(),
    ids=[code.splitlines()[0][:60] for code, _ in runnable_blocks()],
)
def test_a_runnable_block_runs_as_pasted(clone: Path, code: str, needs_serve: bool):
    env = clone_env(clone)
    with serving(clone, env) if needs_serve else nullcontext("") as url:
        if url:
            env["API_URL"] = url  # what the block's default names, on the port serve got
        done = subprocess.run(
            ["bash", "-e", "-u", "-o", "pipefail", "-c", code],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
        )
    assert done.returncode == 0, (
        f"{code}\n--- stdout\n{done.stdout[-2000:]}\n--- stderr\n{done.stderr[-2000:]}"
    )
