"""Where the sample model and images are: the shared folder beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

from detector.errors import DetectorError

SHARED_DIR_ENV = "DETECTOR_SHARED_DIR"
SAMPLE_MODEL_ENV = "DETECTOR_SAMPLE_MODEL"

# function/detector/local/samples.py -> the repository root is three folders up.
REPO_ROOT = Path(__file__).resolve().parents[3]


class SampleDataError(DetectorError):
    """A sample file is neither configured, nor beside the repository."""

    code = "sample_data_missing"


def shared_dir() -> Path:
    """``$DETECTOR_SHARED_DIR``, else ``../shared`` from the repository root."""
    configured = os.environ.get(SHARED_DIR_ENV)
    return Path(configured) if configured else REPO_ROOT.parent / "shared"


def sample_model_path() -> Path:
    """The sample YOLOX-Nano: ``$DETECTOR_SAMPLE_MODEL``, else the shared folder's copy."""
    configured = os.environ.get(SAMPLE_MODEL_ENV)
    path = Path(configured) if configured else shared_dir() / "models" / "yolox_nano.onnx"
    if not path.is_file():
        raise SampleDataError(
            f"sample model not found at {path}: set {SAMPLE_MODEL_ENV} to a yolox_nano.onnx"
        )
    return path


def sample_image_path() -> Path:
    """The street photo with a dog, a bicycle and a car."""
    path = shared_dir() / "data" / "samples" / "dog.jpg"
    if not path.is_file():
        raise SampleDataError(f"sample image not found at {path}: set {SHARED_DIR_ENV}")
    return path


def coco_dir() -> Path:
    """The 64 COCO val2017 images with their YOLO-format labels and ``names.txt``."""
    path = shared_dir() / "data" / "coco-val64"
    if not (path / "names.txt").is_file():
        raise SampleDataError(f"COCO sample set not found at {path}: set {SHARED_DIR_ENV}")
    return path
