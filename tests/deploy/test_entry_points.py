"""The handlers that the Dockerfile's CMD and the template's ImageConfig name exist."""

from __future__ import annotations

import importlib
import inspect

from tests.deploy import image


def test_every_function_runs_a_handler_that_exists(sam_template):
    # GIVEN the handler each function of the template runs
    paths = image.handler_paths(sam_template["template"])
    assert set(paths.values()) == {
        "detector.handlers.api.lambda_handler",
        "detector.handlers.s3.lambda_handler",
    }

    for path in paths.values():
        # WHEN its module is imported
        module_name, _, function_name = path.rpartition(".")
        handler = getattr(importlib.import_module(module_name), function_name)

        # THEN the name is a function Lambda can call with (event, context)
        assert callable(handler)
        inspect.signature(handler).bind({}, object())
