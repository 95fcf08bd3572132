"""The layer script: binary wheels for both Lambda architectures, a trimmed tree that works.

The wheel check resolves function/requirements.txt for the real Lambda target (cp312,
Amazon Linux 2023's glibc) on both architectures. The trimmed tree is checked by building
it for this machine's Python, glibc and architecture, then importing it in an interpreter
that has nothing else: the same script, the same trimming, a target this machine can run.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import canonicalize_name, parse_wheel_filename

from layer import build
from tests.deploy.conftest import FUNCTION_DIR

REQUIREMENTS = FUNCTION_DIR / "requirements.txt"
RUNTIME_IMPORTS = (
    "numpy",
    "onnxruntime",
    "PIL.Image",
    "jwt",
    "zstandard",
    "boto3",
    "cryptography.hazmat.primitives.ciphers.aead",
    "aws_lambda_powertools.logging",
    "aws_lambda_powertools.metrics",
    "aws_lambda_powertools.utilities.parameters",
)


def pinned() -> dict[str, str]:
    """The runtime requirements, name -> exact version."""
    lines = (line.split("#")[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    pins = dict(line.split("==") for line in lines if line)
    return {canonicalize_name(name): version for name, version in pins.items()}


def wheel_cache(download_cache: Path, target: build.Target) -> Path:
    """One folder per target and requirements: it holds exactly one resolution."""
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:12]
    return download_cache / f"wheels-{target.name}-{digest}"


def supported_tags(target: build.Target) -> set[Tag]:
    version = tuple(int(part) for part in target.python_version.split("."))
    platforms = target.platforms()
    return {
        *cpython_tags(version, platforms=platforms),
        *compatible_tags(version, f"cp{version[0]}{version[1]}", platforms),
    }


def host_target() -> build.Target:
    libc, glibc = platform.libc_ver()
    assert libc == "glibc", "the layer targets glibc (manylinux) systems"
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return build.target_for(platform.machine(), python, glibc)


@pytest.fixture(scope="module")
def host_layer(tmp_path_factory: pytest.TempPathFactory, download_cache: Path) -> Path:
    """The layer built by the script for this machine: its trimmed python/ folder."""
    target = host_target()
    build_dir = tmp_path_factory.mktemp("layer")
    code = build.main(
        [
            *("--arch", target.arch, "--python-version", target.python_version),
            *("--glibc", ".".join(map(str, target.glibc)), "--build-dir", str(build_dir)),
            *("--wheels", str(wheel_cache(download_cache, target)), "--no-zip"),
        ]
    )
    assert code == 0
    return build_dir / target.name / "python"


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_runtime_requirements_resolve_to_binary_wheels_for_lambda(arch, download_cache):
    # GIVEN the Lambda Python 3.12 runtime on this architecture
    target = build.target_for(arch, "3.12")

    # WHEN pip resolves the runtime requirements for it, binary wheels only
    wheels = build.download_wheels(target, REQUIREMENTS, wheel_cache(download_cache, target))

    # THEN every pin is there at its version, and every wheel loads on that runtime
    parsed = [parse_wheel_filename(wheel.name) for wheel in wheels]
    found = {name: str(version) for name, version, _, _ in parsed}
    assert pinned().items() <= found.items()
    supported = supported_tags(target)
    unloadable = [
        w.name for w, (*_, tags) in zip(wheels, parsed, strict=True) if not tags & supported
    ]
    assert unloadable == []


def test_the_target_accepts_the_manylinux_tags_amazon_linux_2023_can_load():
    platforms = build.target_for("arm64", "3.12").platforms()

    assert platforms[0] == "manylinux_2_34_aarch64"
    assert {"manylinux_2_28_aarch64", "manylinux2014_aarch64"} <= set(platforms)
    assert "manylinux_2_35_aarch64" not in platforms


def test_the_trimmed_layer_alone_imports_the_runtime_and_runs_the_model(
    host_layer, model_path, dog_jpg
):
    # GIVEN the layer built (and trimmed) for this machine
    site = host_layer
    assert not list(site.rglob("__pycache__")) and not list(site.rglob("tests"))
    assert not (site / "onnxruntime" / "transformers").exists()

    # WHEN an interpreter without site-packages imports the runtime from it alone and runs
    # the sample model on the sample image
    probe = f"""
import importlib, json, sys
sys.path.insert(0, {str(site)!r})
for module in {RUNTIME_IMPORTS!r}:
    importlib.import_module(module)
import numpy as np, onnxruntime as ort, PIL.Image, zstandard
session = ort.InferenceSession({str(model_path)!r}, providers=["CPUExecutionProvider"])
source = session.get_inputs()[0]
image = PIL.Image.open({str(dog_jpg)!r}).convert("RGB").resize(tuple(source.shape[2:]))
tensor = np.ascontiguousarray(np.asarray(image, np.float32).transpose(2, 0, 1)[None])
[output] = session.run(None, {{source.name: tensor}})
foreign = sorted(
    name for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None)
    and not module.__file__.startswith(({str(site)!r}, sys.base_prefix))
)
print(json.dumps({{"shape": output.shape, "zstd": zstandard.backend, "foreign": foreign}}))
"""
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe], capture_output=True, text=True, check=False
    )

    # THEN the model runs, with every module from the layer or the standard library
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["shape"][:2] == [1, 3549] and report["foreign"] == []
    assert report["zstd"] == "cext"  # the C backend, not the trimmed CFFI one


def test_a_layer_over_lambdas_size_limit_is_refused(host_layer, monkeypatch, capsys):
    # GIVEN a limit below the layer's size
    monkeypatch.setattr(build, "UNZIPPED_LIMIT_BYTES", 10 * 2**20)

    # WHEN the build checks the layer's size
    fits = build.within_limit(host_target(), host_layer)

    # THEN it refuses, saying why
    assert not fits
    assert "over Lambda's unzipped limit of 10.0 MB" in capsys.readouterr().out


def test_the_zip_holds_the_python_folder_lambda_expects(tmp_path):
    module = tmp_path / "layer" / "python" / "package" / "module.py"
    module.parent.mkdir(parents=True)
    module.write_text("VALUE = 1\n")

    build.write_zip(tmp_path / "layer", tmp_path / "layer.zip")

    assert zipfile.ZipFile(tmp_path / "layer.zip").namelist() == ["python/package/module.py"]
