"""The template and the Dockerfile pass the linters AWS and Docker users run on them.

Each linter is also shown a known-bad input, so that a linter which silently checks nothing
(wrong path, wrong config) fails here instead of passing.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.deploy.conftest import FUNCTION_DIR, REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yaml"
DOCKERFILE = FUNCTION_DIR / "Dockerfile"


def run(command: list[str | Path], env: dict[str, str], stdin: str | None = None):
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, input=stdin, capture_output=True, text=True, check=False
    )


def test_template_passes_cfn_lint_including_informational_rules(tools, tool_env):
    # WHEN cfn-lint checks the template, with the informational rules on
    result = run([tools / "cfn-lint", "--include-checks", "I", "--", TEMPLATE], tool_env)

    # THEN it finds nothing
    assert result.returncode == 0, result.stdout + result.stderr


def test_cfn_lint_rejects_a_template_with_a_mistake(tools, tool_env, tmp_path):
    # GIVEN the template with a function whose memory size is out of Lambda's range
    broken = tmp_path / "template.yaml"
    broken.write_text(TEMPLATE.read_text().replace("MaxValue: 10240", "MaxValue: 99999"))

    # WHEN cfn-lint checks it
    result = run([tools / "cfn-lint", "--", broken], tool_env)

    # THEN it fails, naming the line
    assert result.returncode != 0
    assert "template.yaml:" in result.stdout


def test_template_passes_sam_validate_lint(tools, tool_env):
    result = run([tools / "sam", "validate", "--lint", "--template-file", TEMPLATE], tool_env)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


def test_dockerfile_passes_hadolint(tools, tool_env):
    result = run([tools / "hadolint", DOCKERFILE], tool_env)

    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_dockerfile_that_keeps_the_pip_cache(tools, tool_env):
    # GIVEN our Dockerfile with pip's cache left in the image
    leaky = DOCKERFILE.read_text().replace("pip install --no-cache-dir", "pip install")

    # WHEN hadolint reads it
    result = run([tools / "hadolint", "-"], tool_env, stdin=leaky)

    # THEN it names the rule
    assert result.returncode != 0
    assert "DL3042" in result.stdout
