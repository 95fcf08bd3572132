"""The template and the Dockerfile pass the linters AWS and Docker users run on them.

Each linter is also shown a known-bad input, so that a linter which silently checks nothing
(wrong path, wrong config) fails here instead of passing.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.deploy.conftest import FUNCTION_DIR, REPO_ROOT

TEMPLATE = REPO_ROOT / "template.yaml"
DOCKERFILE = FUNCTION_DIR / "Dockerfile"


# What checkov writes for a skip comment without a reason ("checkov:skip=ID").
NO_REASON = "No comment provided"


def run(command: list[str | Path], env: dict[str, str], stdin: str | None = None):
    return subprocess.run(
        command, cwd=REPO_ROOT, env=env, input=stdin, capture_output=True, text=True, check=False
    )


def checkov_report(
    checkov: Path, env: dict[str, str], path: Path, framework: str
) -> dict[str, Any]:
    """checkov's JSON report on one file; --skip-download keeps it offline."""
    command: list[str | Path] = [
        checkov,
        "--skip-download",
        "--framework",
        framework,
        "--file",
        path,
        "-o",
        "json",
    ]
    result = run(command, env)
    assert result.returncode in (0, 1), result.stdout + result.stderr  # 1: failed checks
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def unanswered(report: dict[str, Any]) -> list[str]:
    """The findings neither fixed nor skipped with a reason: failed checks, and skips whose
    comment gives none."""
    results = report["results"]
    failed = [f"{c['check_id']} {c['resource']}: failed" for c in results["failed_checks"]]
    unexplained = [
        f"{c['check_id']} {c['resource']}: skipped without a reason"
        for c in results["skipped_checks"]
        if c["check_result"].get("suppress_comment", "").strip() in ("", NO_REASON)
    ]
    return failed + unexplained


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


@pytest.mark.parametrize(
    ("path", "framework"), [(TEMPLATE, "cloudformation"), (DOCKERFILE, "dockerfile")]
)
def test_checkov_finds_nothing_that_is_neither_fixed_nor_skipped_with_a_reason(
    checkov, tool_env, path, framework
):
    # WHEN checkov scans the file, offline
    report = checkov_report(checkov, tool_env, path, framework)

    # THEN every finding is fixed, or skipped in the file with its reason
    assert unanswered(report) == []
    # and it did read the file and run its checks
    assert report["summary"]["parsing_errors"] == 0
    assert report["summary"]["passed"] > 0


def test_checkov_reports_a_finding_and_a_skip_without_a_reason(checkov, tool_env, tmp_path):
    # GIVEN the template with the uploads queue's encryption gone, and a skip's reason cut
    text = TEMPLATE.read_text()
    encryption = (
        "      KmsMasterKeyId: !If [UsesStackKmsKey, !Ref StackKmsKeyArn, !Ref AWS::NoValue]\n"
    )
    skip = "# checkov:skip=CKV_AWS_117:"
    assert encryption in text and skip in text
    broken = tmp_path / "template.yaml"
    broken.write_text(
        text.replace(encryption, "", 1).replace(skip, "# checkov:skip=CKV_AWS_117\n#", 1)
    )

    # WHEN checkov scans it
    findings = unanswered(checkov_report(checkov, tool_env, broken, "cloudformation"))

    # THEN both are reported
    assert findings == [
        "CKV_AWS_27 AWS::SQS::Queue.UploadQueue: failed",
        "CKV_AWS_117 AWS::Serverless::Function.DetectApi: skipped without a reason",
    ]
