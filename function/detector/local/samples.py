"""Where the sample model and image are, and how they get there on a machine without them.

Lookup order, for each sample: an explicit path (``$DETECTOR_SAMPLE_MODEL`` for the model),
the shared folder beside the repository (``../shared``), the user's cache folder
(``~/.cache/serverless-detector``), and last a download from the public origin (the YOLOX
GitHub release and repository). A download goes to a temporary file in the cache folder,
is checked (pinned digest where one is known, and always a content check: the model must
load in onnxruntime with the YOLOX-Nano input and output shapes), and only then renamed into
place, so the cache never holds a half-written or unchecked file.

These variables are read here and not in ``detector.settings`` because they belong to the
local tooling (demo, tests), never to the Lambda function.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from detector.errors import DetectorError

SHARED_DIR_ENV = "DETECTOR_SHARED_DIR"
SAMPLE_MODEL_ENV = "DETECTOR_SAMPLE_MODEL"
CACHE_DIR_ENV = "DETECTOR_CACHE_DIR"
# Where to download from: the public origin unless a test points them at 127.0.0.1.
MODEL_URL_ENV = "DETECTOR_SAMPLE_MODEL_URL"
IMAGE_URL_ENV = "DETECTOR_SAMPLE_IMAGE_URL"

# function/detector/local/samples.py -> the repository root is three folders up.
REPO_ROOT = Path(__file__).resolve().parents[3]

MODEL_INPUT_SHAPE = [1, 3, 416, 416]
MODEL_OUTPUT_SHAPE = [1, 3549, 85]
DOWNLOAD_TIMEOUT_SECONDS = 30
MAX_DOWNLOAD_BYTES = 64 * 1024 * 1024
_CHUNK = 1024 * 1024

# The 80 COCO class names in contiguous id order (as YOLOX's coco_classes.py lists them):
# a plain .onnx carries no names, and the sample model must label its boxes offline too.
COCO_CLASSES: tuple[str, ...] = tuple(
    (  # noqa: SIM905 - eight lines instead of eighty
        "person,bicycle,car,motorcycle,airplane,bus,train,truck,boat,traffic light,"
        "fire hydrant,stop sign,parking meter,bench,bird,cat,dog,horse,sheep,cow,elephant,bear,"
        "zebra,giraffe,backpack,umbrella,handbag,tie,suitcase,frisbee,skis,snowboard,"
        "sports ball,kite,baseball bat,baseball glove,skateboard,surfboard,tennis racket,"
        "bottle,wine glass,cup,fork,knife,spoon,bowl,banana,apple,sandwich,orange,broccoli,"
        "carrot,hot dog,pizza,donut,cake,chair,couch,potted plant,bed,dining table,toilet,tv,"
        "laptop,mouse,remote,keyboard,cell phone,microwave,oven,toaster,sink,refrigerator,book,"
        "clock,vase,scissors,teddy bear,hair drier,toothbrush"
    ).split(",")
)


class SampleDataError(DetectorError):
    """A sample file is neither configured, nor beside the repository, nor downloadable."""

    code = "sample_data_missing"


@dataclass(frozen=True)
class Sample:
    """One sample file: where it lies in the shared folder and where it comes from."""

    filename: str
    shared_path: str  # relative to the shared folder
    url: str
    url_env: str
    # The release asset publishes no digest and was exported separately from the shared
    # copy, so for it the content check is what we rely on (see ../shared/models/README.md).
    sha256: str | None
    check: Callable[[Path], None]  # raises SampleDataError when the content is wrong


def check_model(path: Path) -> None:
    """Refuse a file that onnxruntime cannot load or whose shapes are not YOLOX-Nano's."""
    import onnxruntime  # noqa: PLC0415 - heavy; only needed when a file must be checked

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own unrelated exception classes
        raise SampleDataError(f"{path.name} is not a loadable ONNX model") from exc
    inputs = [list(node.shape) for node in session.get_inputs()]
    outputs = [list(node.shape) for node in session.get_outputs()]
    if inputs != [MODEL_INPUT_SHAPE] or outputs != [MODEL_OUTPUT_SHAPE]:
        raise SampleDataError(
            f"{path.name} has inputs {inputs} and outputs {outputs}; expected "
            f"[{MODEL_INPUT_SHAPE}] and [{MODEL_OUTPUT_SHAPE}] (YOLOX-Nano, decode not in graph)"
        )


def check_image(path: Path) -> None:
    """Refuse a file that is not a decodable JPEG."""
    from PIL import Image, UnidentifiedImageError  # noqa: PLC0415

    try:
        with Image.open(path) as image:
            image.load()
            image_format = image.format
    except (UnidentifiedImageError, OSError) as exc:
        raise SampleDataError(f"{path.name} is not a decodable image") from exc
    if image_format != "JPEG":
        raise SampleDataError(f"{path.name} is a {image_format}, expected a JPEG")


MODEL = Sample(
    filename="yolox_nano.onnx",
    shared_path="models/yolox_nano.onnx",
    url="https://github.com/Megvii-BaseDetection/YOLOX/releases/download/0.1.1rc0/yolox_nano.onnx",
    url_env=MODEL_URL_ENV,
    sha256=None,
    check=check_model,
)
IMAGE = Sample(
    filename="dog.jpg",
    shared_path="data/samples/dog.jpg",
    url="https://raw.githubusercontent.com/Megvii-BaseDetection/YOLOX/main/assets/dog.jpg",
    url_env=IMAGE_URL_ENV,
    sha256=None,
    check=check_image,
)


def shared_dir() -> Path:
    """``$DETECTOR_SHARED_DIR``, else ``../shared`` from the repository root."""
    configured = os.environ.get(SHARED_DIR_ENV)
    return Path(configured) if configured else REPO_ROOT.parent / "shared"


def cache_dir() -> Path:
    """``$DETECTOR_CACHE_DIR``, else ``$XDG_CACHE_HOME`` (or ``~/.cache``) / serverless-detector."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "serverless-detector"


def sample_model_path(*, download: bool = True) -> Path:
    """The sample YOLOX-Nano: ``$DETECTOR_SAMPLE_MODEL``, else shared, cache, download."""
    configured = os.environ.get(SAMPLE_MODEL_ENV)
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise SampleDataError(
                f"{SAMPLE_MODEL_ENV} is {path}, which is not a file: "
                "point it at a yolox_nano.onnx or unset it"
            )
        return path
    return locate(MODEL, download=download)


def sample_image_path(*, download: bool = True) -> Path:
    """The street photo with a dog, a bicycle and a car."""
    return locate(IMAGE, download=download)


def sample_names_path() -> Path:
    """A names file for the sample model: the shared one, else written to the cache."""
    shared = shared_dir() / "data" / "coco-val64" / "names.txt"
    if shared.is_file():
        return shared
    path = cache_dir() / "coco-names.txt"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_suffix(f".{os.getpid()}.part")
        temp.write_text("\n".join(COCO_CLASSES) + "\n", encoding="utf-8")
        temp.replace(path)
    return path


def print_paths(out: TextIO) -> None:
    """What ``detector fetch-samples`` prints: each sample's path, found or fetched in turn."""
    print(f"model: {sample_model_path()}", file=out)
    print(f"image: {sample_image_path()}", file=out)
    print(f"names: {sample_names_path()}", file=out)


def coco_dir() -> Path:
    """The 64 COCO val2017 images with their YOLO-format labels and ``names.txt``."""
    path = shared_dir() / "data" / "coco-val64"
    if not (path / "names.txt").is_file():
        raise SampleDataError(f"COCO sample set not found at {path}: set {SHARED_DIR_ENV}")
    return path


def locate(sample: Sample, *, download: bool = True) -> Path:
    """The shared copy, else the cached copy, else (if allowed) a checked download."""
    shared = shared_dir() / sample.shared_path
    if shared.is_file():
        return shared
    cached = cache_dir() / sample.filename
    if cached.is_file():
        return cached
    if not download:
        raise SampleDataError(_where_to_put(sample))
    return fetch(sample, cached)


def fetch(sample: Sample, destination: Path) -> Path:
    """Download ``sample`` to ``destination``: temp file, checks, then an atomic rename."""
    url = os.environ.get(sample.url_env) or sample.url
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{sample.filename}.", suffix=".part"
    )
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            digest = _download(url, out, sample)
        if sample.sha256 is not None and digest != sample.sha256:
            raise SampleDataError(
                f"{sample.filename} downloaded from {url} has sha256 {digest}, "
                f"expected {sample.sha256}: refused"
            )
        sample.check(temp)
        temp.replace(destination)
    finally:
        temp.unlink(missing_ok=True)
    return destination


def _download(url: str, out: BinaryIO, sample: Sample) -> str:
    """Stream ``url`` into ``out``; returns the hex sha256 of what was written."""
    if not url.startswith(("https://", "http://")):
        raise SampleDataError(f"refusing to download {sample.filename} from {url!r}")
    digest = hashlib.sha256()
    written = 0
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:  # noqa: S310 - scheme checked above
            while chunk := response.read(_CHUNK):
                written += len(chunk)
                if written > MAX_DOWNLOAD_BYTES:
                    raise SampleDataError(f"{sample.filename} from {url} is over 64 MB: refused")
                digest.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
        raise SampleDataError(
            f"could not download from {url} ({exc}). {_where_to_put(sample)}"
        ) from exc
    return digest.hexdigest()


def _where_to_put(sample: Sample) -> str:
    hint = f"set {SAMPLE_MODEL_ENV} to its path, or " if sample is MODEL else ""
    return (
        f"{sample.filename} is not available offline: {hint}put it at "
        f"{shared_dir() / sample.shared_path} or {cache_dir() / sample.filename} "
        f"(it comes from {sample.url})"
    )
