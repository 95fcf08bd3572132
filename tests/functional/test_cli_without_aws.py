"""Every command that calls AWS, on a machine without credentials: one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli import detector
from tests.functional.test_cli_invoke import no_aws_env


@pytest.mark.parametrize(
    "command",
    [
        ["pack", "{model}", "-o", "{tmp}/m.sealed", "--kms-key-id", "alias/models"],
        ["pack", "{model}", "-o", "{tmp}/m.sealed", "--key-secret-id", "models/key"],
        ["pack", "{model}", "-o", "{tmp}/m.sealed", "--key-parameter", "/models/key"],
        ["inspect", "s3://models/m.sealed"],
        ["detect", "--model", "s3://models/m.sealed", "{image}"],
        ["serve", "--port", "0", "--model", "s3://models/m.sealed"],
    ],
    ids=["pack-kms", "pack-secret", "pack-parameter", "inspect", "detect", "serve"],
)
def test_no_credentials_is_one_line_naming_them_and_exit_2(
    command: list[str], model_path: Path, dog_jpg: Path, tmp_path: Path
):
    argv = [part.format(model=model_path, image=dog_jpg, tmp=tmp_path) for part in command]
    done = detector(*argv, env=no_aws_env(DETECTOR_CACHE_DIR=str(tmp_path)), timeout=120)

    assert done.returncode == 2
    assert "no usable AWS credentials" in done.stderr
    assert len(done.stderr.splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
