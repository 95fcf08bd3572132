"""Build the runtime requirements as a Lambda layer zip, for zip-based functions.

    python layer/build.py --arch arm64                 # build/layer/detector-deps-py3.12-arm64.zip
    python layer/build.py --arch x86_64 --python-version 3.13
    python layer/build.py --arch arm64 --resolve-only  # only check that binary wheels exist

Steps: download binary wheels of function/requirements.txt for the runtime's Python, glibc
and architecture (never the host's), install them into ``python/``, drop what nothing imports
at run time, check Lambda's 250 MB unzipped limit, zip. Runs anywhere pip does: no Docker.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = REPO_ROOT / "function" / "requirements.txt"
BUILD_DIR = REPO_ROOT / "build" / "layer"

# Lambda's limit for a function and all its layers, unzipped: 250 MB (AWS counts MB as 2**20).
UNZIPPED_LIMIT_BYTES = 250 * 2**20

# The glibc of the OS under each Lambda Python runtime: it decides which manylinux wheels load
# there (python3.9-3.11 run on Amazon Linux 2, python3.12 and later on Amazon Linux 2023).
RUNTIME_GLIBC = {
    "3.9": (2, 26),
    "3.10": (2, 26),
    "3.11": (2, 26),
    "3.12": (2, 34),
    "3.13": (2, 34),
    "3.14": (2, 34),
}
# manylinux2014 is glibc 2.17, the oldest tag the pinned wheels may still carry.
OLDEST_GLIBC_MINOR = 17
MACHINES = {"x86_64": "x86_64", "arm64": "aarch64", "aarch64": "aarch64"}

# What nothing imports at run time. Generic: bytecode (compiled on the host for the host's
# Python, so useless), type stubs, Cython declarations, test suites, console scripts.
UNUSED_DIR_NAMES = frozenset({"__pycache__", "tests"})
UNUSED_SUFFIXES = (".pyc", ".pyi", ".pxd", ".pyx")
# Specific: the model-authoring tools of onnxruntime, numpy's Fortran wrapper generator and C
# headers, and zstandard's CFFI backend (the C backend is the one it imports; the CFFI one is
# only tried when that fails). tests/deploy/test_layer.py imports the trimmed tree to check.
UNUSED_PATHS = (
    "bin",
    "onnxruntime/tools",
    "onnxruntime/transformers",
    "onnxruntime/quantization",
    "numpy/f2py",
    "numpy/_core/include",
    "zstandard/backend_cffi.py",
    "zstandard/_cffi.*",
)


@dataclass(frozen=True)
class Target:
    """The runtime a layer is built for."""

    arch: str  # Lambda's name: x86_64 or arm64 (aarch64 accepted)
    python_version: str  # "3.12"
    glibc: tuple[int, int]  # the runtime OS's glibc

    @property
    def machine(self) -> str:
        return MACHINES[self.arch]

    @property
    def name(self) -> str:
        return f"py{self.python_version}-{self.arch}"

    def platforms(self) -> list[str]:
        """Every manylinux tag the runtime can load, newest first (pip takes any of them).

        Not just manylinux2014: numpy, pillow, cryptography and onnxruntime ship only
        manylinux_2_27/2_28 wheels now, which load on Amazon Linux 2023 (glibc 2.34).
        """
        major, newest = self.glibc
        tags = [f"manylinux_{major}_{minor}_{self.machine}" for minor in range(newest, 16, -1)]
        return [*tags, f"manylinux2014_{self.machine}"]

    def pip_args(self) -> list[str]:
        """The pip options that pick wheels for this target instead of the host."""
        platforms = [arg for tag in self.platforms() for arg in ("--platform", tag)]
        return [
            "--only-binary=:all:",
            *platforms,
            "--python-version",
            self.python_version,
            "--implementation",
            "cp",
        ]


def target_for(arch: str, python_version: str, glibc: str | None = None) -> Target:
    """The target for a Lambda architecture and Python version (glibc: override, "2.34")."""
    if arch not in MACHINES:
        raise SystemExit(f"unknown architecture {arch!r}: use one of {sorted(MACHINES)}")
    if glibc is not None:
        major, _, minor = glibc.partition(".")
        return Target(arch, python_version, (int(major), int(minor)))
    if python_version not in RUNTIME_GLIBC:
        raise SystemExit(
            f"no Lambda runtime for Python {python_version}: use one of {sorted(RUNTIME_GLIBC)}"
        )
    return Target(arch, python_version, RUNTIME_GLIBC[python_version])


def download_wheels(target: Target, requirements: Path, wheels: Path) -> list[Path]:
    """Resolve the requirements to binary wheels for the target, into ``wheels`` (a cache)."""
    wheels.mkdir(parents=True, exist_ok=True)
    _pip("download", *target.pip_args(), "-r", str(requirements), "-d", str(wheels))
    return sorted(wheels.glob("*.whl"))


def install(target: Target, requirements: Path, wheels: Path, site: Path) -> None:
    """Install the requirements from the downloaded wheels only, into ``site``."""
    shutil.rmtree(site, ignore_errors=True)
    _pip(
        "install",
        *target.pip_args(),
        "--no-index",
        "--find-links",
        str(wheels),
        "--no-compile",
        # The host's own packages (and who runs pip) are no concern of a --target install.
        "--no-warn-conflicts",
        "--root-user-action=ignore",
        "--target",
        str(site),
        "-r",
        str(requirements),
    )


def trim(site: Path) -> int:
    """Delete what nothing imports at run time; return the bytes freed."""
    doomed = [path for pattern in UNUSED_PATHS for path in site.glob(pattern)]
    doomed += [path for path in site.rglob("*") if _unused(path)]
    freed = 0
    for path in doomed:
        if not path.exists():  # inside a folder deleted before it
            continue
        freed += tree_size(path)
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    return freed


def _unused(path: Path) -> bool:
    if path.is_dir():
        return path.name in UNUSED_DIR_NAMES
    return path.suffix in UNUSED_SUFFIXES


def tree_size(path: Path) -> int:
    """Bytes in a file or folder, as Lambda counts them (file sizes, unzipped)."""
    if path.is_file():
        return path.stat().st_size
    return sum(file.stat().st_size for file in _files(path))


def _files(folder: Path) -> Iterator[Path]:
    return (path for path in sorted(folder.rglob("*")) if path.is_file())


def within_limit(target: Target, site: Path) -> bool:
    """Print the unzipped size; whether it fits Lambda's limit (then also say it does not)."""
    size = tree_size(site)
    print(f"{target.name}: unzipped {_mb(size)} ({size} bytes)")
    if size > UNZIPPED_LIMIT_BYTES:
        print(f"{target.name}: over Lambda's unzipped limit of {_mb(UNZIPPED_LIMIT_BYTES)}")
        return False
    return True


def write_zip(layer_root: Path, output: Path) -> None:
    """Zip ``layer_root``'s contents (the ``python/`` folder Lambda expects) to ``output``."""
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_suffix(".partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in _files(layer_root):
            archive.write(path, path.relative_to(layer_root).as_posix())
    partial.replace(output)


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", *args, "--quiet", "--disable-pip-version-check"]
    subprocess.run(command, check=True)  # noqa: S603 - our own arguments, no shell


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="x86_64", choices=sorted(MACHINES))
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--glibc", help="the target OS's glibc (default: the Lambda runtime's)")
    parser.add_argument("--requirements", type=Path, default=REQUIREMENTS)
    parser.add_argument("--build-dir", type=Path, default=BUILD_DIR, help="default: build/layer")
    parser.add_argument("--wheels", type=Path, help="wheel cache (default: under --build-dir)")
    parser.add_argument("--no-zip", action="store_true", help="stop after the size check")
    parser.add_argument(
        "--resolve-only", action="store_true", help="only check that binary wheels exist"
    )
    args = parser.parse_args(argv)
    target = target_for(args.arch, args.python_version, args.glibc)
    wheels = args.wheels or args.build_dir / f"wheels-{target.name}"

    found = download_wheels(target, args.requirements, wheels)
    print(f"{target.name}: {len(found)} binary wheels in {wheels}")
    if args.resolve_only:
        return 0

    layer_root = args.build_dir / target.name
    site = layer_root / "python"
    install(target, args.requirements, wheels, site)
    freed = trim(site)
    print(f"{target.name}: trimmed {_mb(freed)}")
    if not within_limit(target, site):
        return 1
    if args.no_zip:
        return 0
    output = args.build_dir / f"detector-deps-{target.name}.zip"
    write_zip(layer_root, output)
    print(f"{target.name}: wrote {output} ({_mb(output.stat().st_size)} zipped)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
