"""Run one Lambda handler as the runtime would, from the task root alone, and report.

    python -s pure_invoke.py MODULE.FUNCTION EVENT.json

Runs in the pure interpreter of tests/deploy/test_pure_environment.py (standard library +
PYTHONPATH=<task root>:<requirements>): no pytest, no moto, nothing from this repository
but the copy of the package. Prints JSON: the handler's response, every imported module
whose file lies outside the task root, the requirements and the standard library, and
every module of the package's tooling (the command line, local tools) that was imported.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import sysconfig
from pathlib import Path

# The folders .dockerignore keeps out of the image: the runtime must never need them.
TOOLING_PACKAGES = ("detector.commands", "detector.local")


class Context:
    """The Lambda context attributes the handlers and Powertools read."""

    function_name = "detector-pure"
    memory_limit_in_mb = 1769
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:detector-pure"
    aws_request_id = "5f0d2c1e-pure-4e0b-9d0a-000000000001"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def foreign_modules() -> list[str]:
    roots = tuple(str(Path(path).resolve()) for path in os.environ["PYTHONPATH"].split(os.pathsep))
    stdlib = str(Path(sysconfig.get_path("stdlib")).resolve())

    this_script = str(Path(__file__).resolve())

    def allowed(file: str) -> bool:
        path = str(Path(file).resolve())
        in_stdlib = path.startswith(stdlib) and "site-packages" not in path
        return path.startswith(roots) or in_stdlib or path == this_script

    files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
    return sorted(name for name, file in files.items() if file and not allowed(file))


def main() -> None:
    handler_path, event_file = sys.argv[1:3]
    module_name, _, function_name = handler_path.rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
    event = json.loads(Path(event_file).read_text())
    response = handler(event, Context())
    report = {
        "response": response,
        "foreign_modules": foreign_modules(),
        "tooling_modules": sorted(
            name
            for name in sys.modules
            if any(
                name == package or name.startswith(package + ".") for package in TOOLING_PACKAGES
            )
        ),
        # the virtualenv's own site-packages is on the path, and must stay empty
        "site_packages_on_path": [
            path for path in sys.path if "site-packages" in path and any(Path(path).glob("*"))
        ],
    }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
