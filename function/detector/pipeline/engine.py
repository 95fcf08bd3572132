"""The detection engine: ONNX bytes in once, then image bytes in, detections out.

The pipeline reads top to bottom in ``Detector.detect``: decode → letterbox →
``session.run`` → family decode → filter / NMS / map back. Each step lives in its own
module and is testable alone; this one owns the onnxruntime session.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray
from PIL import Image

from detector.cpus import cpu_count
from detector.errors import BadRequestError, ModelError
from detector.pipeline import decode, families, letterbox, postprocess
from detector.pipeline.detections import Detections
from detector.pipeline.modelgraph import read_graph
from detector.settings import MAX_DET_LIMIT, ImageLimits, Settings

DEFAULT_LIMITS = ImageLimits()  # the settings' defaults


@dataclass(frozen=True)
class DetectOptions:
    """Per-request detection options; out-of-range values raise ``BadRequestError``.

    ``multi_label``: each box is a candidate for every class whose score passes ``conf``,
    not only its best one (off, as in Ultralytics' predict; their validation and the YOLOX
    demo's class-aware NMS turn it on: +0.002 mAP at conf 0.01 on coco-val64).
    """

    # The deployment's defaults (CONF, IOU, MAX_DET) start from these: one place for both.
    conf: float = Settings.conf
    iou: float = Settings.iou
    max_det: int = Settings.max_det
    agnostic: bool = False
    classes: frozenset[int] | None = None
    multi_label: bool = False

    def __post_init__(self) -> None:
        for name in ("conf", "iou"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise BadRequestError(f"{name} must be a number")
            if not 0.0 <= value <= 1.0:
                raise BadRequestError(f"{name} must be between 0 and 1, not {value}")
        if isinstance(self.max_det, bool) or not isinstance(self.max_det, int):
            raise BadRequestError("max_det must be a whole number")
        if not 1 <= self.max_det <= MAX_DET_LIMIT:
            raise BadRequestError(f"max_det must be between 1 and {MAX_DET_LIMIT}")
        if self.classes is not None and not all(
            isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in self.classes
        ):
            raise BadRequestError("classes must be non-negative class ids")


@dataclass(frozen=True)
class ModelInfo:
    family: str
    input_name: str
    input_size: tuple[int, int]  # (height, width)
    class_names: tuple[str, ...]


@dataclass(frozen=True)
class DetectionResult:
    width: int  # original image size, after EXIF orientation
    height: int
    detections: Detections
    timing_ms: dict[str, float]  # decode, preprocess, inference, postprocess, total

    def to_json(self, names: Sequence[str]) -> dict[str, Any]:
        return {
            "width": self.width,
            "height": self.height,
            "detections": self.detections.to_json(names),
            "timing_ms": {step: round(ms, 2) for step, ms in self.timing_ms.items()},
        }


def inspect_model(model: bytes, *, family: str | None = None) -> ModelInfo:
    """Family, input and class names of an ONNX model, read from its bytes (no session).

    Raises ``ModelError`` for bytes that are not ONNX or a layout we do not know.
    """
    layout = families.resolve(read_graph(model), family=family)
    families.build(layout)  # validates that the output fits the family
    return _info(layout)


class Detector:
    """One loaded model. ``detect`` may be called from several threads at once."""

    def __init__(
        self,
        session: ort.InferenceSession,
        layout: families.Layout,
        adapter: families.FamilyAdapter,
        *,
        limits: ImageLimits = DEFAULT_LIMITS,
        resize_threads: letterbox.ResizeThreads | None = None,
    ) -> None:
        self.session = session
        self.adapter = adapter
        self.info = _info(layout)
        self._layout = layout
        self._limits = limits
        self._output_name = layout.output.name
        self._resize_threads = resize_threads

    @classmethod
    def from_bytes(
        cls,
        model: bytes,
        *,
        family: str | None = None,
        names: Sequence[str] | None = None,
        threads: int | None = None,
        limits: ImageLimits = DEFAULT_LIMITS,
    ) -> Detector:
        """Build the session from bytes in memory (the model never touches disk).

        ``threads``: onnxruntime intra-op threads, and the threads the resize is split
        across; default, the CPUs we may use. The library's own default reads the
        machine's core count, which can crash or oversubscribe inside a restricted cpuset
        such as Lambda's.
        """
        layout = families.resolve(read_graph(model), family=family, names=names)
        adapter = families.build(layout)  # before the costly session: fail fast
        threads = threads or cpu_count()
        session = create_session(model, threads)
        return cls(
            session,
            layout,
            adapter,
            limits=limits,
            resize_threads=letterbox.ResizeThreads(threads) if threads > 1 else None,
        )

    def detect(self, image: bytes, options: DetectOptions = DetectOptions()) -> DetectionResult:
        """Detect objects in encoded image bytes (JPEG, PNG or WebP).

        Raises ``InvalidImageError`` or ``PayloadTooLargeError``.
        """
        start = time.perf_counter()
        decoded = decode.decode(image, limits=self._limits, fit=self._layout.input_size)
        return self._run(decoded, options, start)

    def detect_image(
        self, image: Image.Image, options: DetectOptions = DetectOptions()
    ) -> DetectionResult:
        """Detect objects in an already decoded image (taken as already upright).

        Raises ``PayloadTooLargeError`` over the pixel cap, like ``detect``.
        """
        start = time.perf_counter()
        decoded = decode.from_pil(image, max_pixels=self._limits.pixels)
        return self._run(decoded, options, start)

    def _run(
        self, decoded: decode.DecodedImage, options: DetectOptions, start: float
    ) -> DetectionResult:
        decoded_at = time.perf_counter()
        tensor, transform = letterbox.letterbox(
            decoded,
            self._layout.input_size,
            self.adapter.recipe,
            self._layout.input_dtype,
            self._resize_threads,
        )
        prepared_at = time.perf_counter()
        output = self._infer(tensor)
        inferred_at = time.perf_counter()
        try:
            candidates = self.adapter.decode(output, options.conf, options.multi_label)
        except (IndexError, ValueError):
            raise ModelError(
                f"the model's output {list(output.shape)} does not fit the "
                f"{self.adapter.name} layout"
            ) from None
        families.check_forced_scores(candidates, self._layout)
        detections = postprocess.finish(
            candidates,
            transform,
            conf=options.conf,
            iou=options.iou,
            max_det=options.max_det,
            agnostic=options.agnostic,
            classes=options.classes,
            suppress=self.adapter.suppress,
        )
        done_at = time.perf_counter()
        timing = {
            "decode": decoded_at - start,
            "preprocess": prepared_at - decoded_at,
            "inference": inferred_at - prepared_at,
            "postprocess": done_at - inferred_at,
            "total": done_at - start,
        }
        return DetectionResult(
            width=decoded.width,
            height=decoded.height,
            detections=detections,
            timing_ms={step: seconds * 1000 for step, seconds in timing.items()},
        )

    def _infer(self, tensor: NDArray[np.floating]) -> NDArray[np.float32]:
        try:
            (output,) = self.session.run([self._output_name], {self.info.input_name: tensor})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"the model failed to run: {_first_line(exc)}") from None
        return np.asarray(output, dtype=np.float32)


def create_session(model: bytes, threads: int | None = None) -> ort.InferenceSession:
    """An onnxruntime CPU session from model bytes; ``ModelError`` if it cannot load."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or cpu_count()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # The intra-op threads spin between operators, which the model needs, but by default
    # go on spinning after the run, on the CPUs the next image's decode and resize want.
    options.add_session_config_entry("session.force_spinning_stop", "1")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"onnxruntime could not load the model: {_first_line(exc)}") from None


def _info(layout: families.Layout) -> ModelInfo:
    return ModelInfo(
        family=layout.family,
        input_name=layout.input.name,
        input_size=layout.input_size,
        class_names=layout.class_names,
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
