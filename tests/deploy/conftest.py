"""Fixtures of the deployment checks: the repository, the tools virtualenv, a download cache."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTION_DIR = REPO_ROOT / "function"
REQUIREMENTS = FUNCTION_DIR / "requirements.txt"
TOOLS_BIN = REPO_ROOT / ".venv-tools" / "bin"
# checkov pins its own boto3, apart from sam's: a virtualenv of its own (Makefile).
CHECKOV = REPO_ROOT / ".venv-checkov" / "bin" / "checkov"
# Any AWS call a tool might try goes to a closed port on this machine, never to AWS.
NOWHERE = "http://127.0.0.1:9"


@pytest.fixture(scope="session")
def tools() -> Path:
    """The bin folder of the tools virtualenv (sam, cfn-lint, hadolint), set up if missing
    (with checkov's, see `checkov`)."""
    subprocess.run(["make", "--silent", "tools"], cwd=REPO_ROOT, check=True)
    return TOOLS_BIN


@pytest.fixture(scope="session")
def checkov(tools: Path) -> Path:
    """The checkov executable, in the virtualenv `make tools` sets up beside the tools'."""
    return CHECKOV


@pytest.fixture(scope="session")
def tool_env() -> dict[str, str]:
    """The environment the tools run in: offline, no telemetry, a region for sam."""
    return {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": NOWHERE,
        # checkov: no download of Prisma Cloud's guideline mappings, no PyPI version check
        "BC_SKIP_MAPPING": "TRUE",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "TRUE",
    }


@pytest.fixture(scope="session")
def download_cache() -> Path:
    """Where downloaded wheels and installed trees persist between runs (keyed by content)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    path = base / "serverless-detector"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def sam_template(tools: Path, tool_env: dict[str, str]) -> dict[str, Any]:
    """template.yaml as CloudFormation reads it ("template") and after SAM's transform."""
    completed = subprocess.run(
        [tools / "python", REPO_ROOT / "infra" / "sam_template.py", REPO_ROOT / "template.yaml"],
        env=tool_env,
        capture_output=True,
        text=True,
        check=True,
    )
    parsed: dict[str, Any] = json.loads(completed.stdout)
    return parsed


@pytest.fixture(scope="session")
def pure_requirements(download_cache: Path) -> Path:
    """function/requirements.txt installed alone into a folder, cached by its content."""
    tag = f"py{sys.version_info.major}{sys.version_info.minor}-{platform.machine()}"
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    folder = download_cache / f"pure-{tag}-{digest}"
    if not (folder / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix="pure-staging-", dir=download_cache))
        # What the Dockerfile's build stage runs: binary wheels, a target folder, no bin/.
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-warn-conflicts"]
        site = staging / "site"
        subprocess.run(
            [*pip, "--only-binary=:all:", "--target", str(site), "-r", str(REQUIREMENTS)],
            check=True,
        )
        shutil.rmtree(site / "bin", ignore_errors=True)
        (staging / ".complete").touch()
        try:
            staging.rename(folder)
        except OSError:  # a concurrent run got there first: its copy is as good
            shutil.rmtree(staging)
    return folder / "site"


@pytest.fixture(scope="session")
def pure_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An interpreter of a fresh virtualenv with no site packages (not even pip)."""
    venv = tmp_path_factory.mktemp("pure") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    return venv / "bin" / "python"
