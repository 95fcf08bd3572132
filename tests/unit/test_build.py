"""How the project is built: `make test` is the one command CI runs and installs what its
tests need itself; installing the package prints no warning."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_make_test_installs_the_tools_and_chromium_before_running_pytest():
    # WHEN make shows what `make test` would run on a machine where nothing is set up yet
    dry_run = subprocess.run(
        ["make", "--dry-run", "--always-make", "test"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    # THEN the deployment tools and Chromium are installed before pytest runs
    pytest_at = dry_run.index("/pytest")
    assert -1 < dry_run.find("-r requirements-tools.txt") < pytest_at
    assert -1 < dry_run.find("apt-get install") < pytest_at
    assert "chromium" in dry_run[dry_run.index("apt-get install") : pytest_at]


def test_ci_runs_the_readme_test_command_and_nothing_that_prepares_for_it():
    script = (REPO / ".ci" / "run").read_text()

    assert re.findall(r"^make\b.*$", script, re.MULTILINE) == ["make test"]
    assert "make test" in (REPO / "README.md").read_text()


def test_building_the_package_warns_of_nothing_deprecated():
    # `make setup` and `make demo` printed setuptools' project.license warning three times
    built = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "--quiet", str(REPO)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "deprecated" not in (built.stdout + built.stderr).lower()
