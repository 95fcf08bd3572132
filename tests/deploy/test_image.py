"""The image holds the pinned requirements and the runtime package, and nothing local-only."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.deploy import image
from tests.deploy.conftest import FUNCTION_DIR

LAMBDA_BASE = "public.ecr.aws/lambda/python:3.12"
# Imported by nothing the image runs: local tooling and the development/test tools.
FORBIDDEN_AT_RUN_TIME = (
    "detector.commands",
    "detector.local",
    "moto",
    "pytest",
    "hypothesis",
    "onnx",
    "pycocotools",
)


def test_both_stages_build_from_the_same_pinnable_lambda_base():
    text = image.DOCKERFILE.read_text()

    assert f"ARG BASE_IMAGE={LAMBDA_BASE}\n" in text
    stages = re.findall(r"^FROM (\S+)", text, re.MULTILINE)
    assert stages == ["${BASE_IMAGE}", "${BASE_IMAGE}"]


def test_the_build_copies_only_the_requirements_and_the_package_from_the_context():
    text = image.DOCKERFILE.read_text()

    sources = re.findall(r"^COPY (?!--from)(\S+) ", text, re.MULTILINE)
    assert sorted(sources) == ["detector", "requirements.txt"]
    assert re.search(r"^COPY --from=build /opt/task \$\{LAMBDA_TASK_ROOT\}$", text, re.MULTILINE)


def test_the_build_context_leaves_out_local_tooling_and_bytecode():
    files = image.context_files()

    assert "requirements.txt" in files
    assert "detector/settings.py" in files
    assert not [
        name for name in files if name.startswith(("detector/local/", "detector/commands/"))
    ]
    assert "detector/__main__.py" not in files  # `python -m detector` runs the command line
    assert not [name for name in files if "__pycache__" in name or name.endswith(".pyc")]
    assert not [name for name in files if not name.startswith(("detector/", "requirements"))]
    # the rest of the package does reach the image
    package = {p.relative_to(FUNCTION_DIR).as_posix() for p in FUNCTION_DIR.glob("detector/*.py")}
    assert package - {"detector/__main__.py"} <= set(files)


def test_runtime_modules_import_with_local_tooling_and_dev_tools_blocked(tmp_path):
    # GIVEN the package as the image has it, and an interpreter in which importing local
    # tooling or a dev tool fails
    task_root = image.copy_package(tmp_path)
    modules = sorted(
        path.relative_to(task_root).with_suffix("").as_posix().replace("/", ".")
        for path in task_root.rglob("*.py")
    )
    probe = f"""
import importlib, importlib.abc, sys
sys.path.insert(0, {str(task_root)!r})
BLOCKED = {FORBIDDEN_AT_RUN_TIME!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == blocked or name.startswith(blocked + ".") for blocked in BLOCKED):
            raise ImportError(f"{{name}} is not in the image")
        return None
sys.meta_path.insert(0, Block())
for module in {modules!r}:
    importlib.import_module(module.removesuffix(".__init__"))
print(sys.modules["detector"].__file__)
"""

    # WHEN it imports every module of the package
    result = subprocess.run(
        [sys.executable, "-I", "-c", probe], capture_output=True, text=True, check=False
    )

    # THEN every one imports, from the copy
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(task_root / "detector" / "__init__.py")
