"""Fixtures shared by every test: the real sample model and images, a Lambda context."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from detector.local import samples


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real COCO-pretrained YOLOX-Nano."""
    return samples.sample_model_path()


@pytest.fixture(scope="session")
def model_bytes(model_path: Path) -> bytes:
    return model_path.read_bytes()


@pytest.fixture(scope="session")
def dog_jpg() -> Path:
    return samples.sample_image_path()


@pytest.fixture(scope="session")
def coco_dir() -> Path:
    return samples.coco_dir()


@dataclass
class LambdaContext:
    """The attributes of the Lambda context that Powertools and our handlers read."""

    function_name: str = "detector-test"
    memory_limit_in_mb: int = 1769
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:detector-test"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> LambdaContext:
    return LambdaContext()
