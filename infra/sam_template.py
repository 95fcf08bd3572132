"""Print template.yaml as CloudFormation reads it, and after the SAM transform, as JSON.

    .venv-tools/bin/python infra/sam_template.py [template.yaml] > template.json

Runs in the tools virtualenv (`make tools`: it needs aws-sam-translator) and offline: the
transform only looks managed policies up by name, and the template names none. `sam build`
fills each image function's ImageUri; a placeholder stands in for it here. The JSON is
{"template": ..., "transformed": ...}: what tests/deploy/test_template.py reads to check
the functions' environment and the least privilege of the roles SAM generates.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

IMAGE_PLACEHOLDER = "detector:placeholder"


class NoManagedPolicyLookups:
    """The policy loader the transform calls only for managed policies given by name."""

    def load(self) -> dict[str, str]:
        return {}


def with_built_images(template: dict) -> dict:
    """The template as `sam build` leaves it: every image function with an ImageUri."""
    built = copy.deepcopy(template)
    for resource in built["Resources"].values():
        properties = resource.get("Properties", {})
        if (
            resource["Type"] == "AWS::Serverless::Function"
            and properties.get("PackageType") == "Image"
        ):
            properties.setdefault("ImageUri", IMAGE_PLACEHOLDER)
    return built


def main() -> None:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "template.yaml")
    template = yaml_parse(path.read_text())
    # The transform resolves AWS::Region for ARNs it writes; any region will do.
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    transformed = transform(with_built_images(template), {}, NoManagedPolicyLookups())
    json.dump({"template": template, "transformed": transformed}, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
