"""Model-family adapters: which YOLO export a graph is, and how to read its output.

| family            | output                          | boxes                    | recipe      |
| ----------------- | ------------------------------- | ------------------------ | ----------- |
| ``yolox``         | ``[1, N, 5+C]``, N = grid cells | raw: grid decode here    | YOLOX       |
| ``yolox-decoded`` | ``[1, N, 5+C]``                 | cx, cy, w, h             | YOLOX       |
| ``yolov5``        | ``[1, 3N, 5+C]`` (3 anchors)    | cx, cy, w, h             | Ultralytics |
| ``yolov8``        | ``[1, 4+C, N]``, no objectness  | cx, cy, w, h             | Ultralytics |
| ``end2end``       | ``[1, K, 6]`` or ``[K, 7]``     | x1, y1, x2, y2, NMS done | Ultralytics |

YOLOv7 and Scaled-YOLOv4 share the YOLOv5 head; YOLOv11 shares YOLOv8's; YOLOv10 and
``nms=True`` exports write ``[1, K, 6]`` (x1, y1, x2, y2, score, class); YOLOv7
``--end2end`` with onnxruntime NMS writes ``[K, 7]`` (batch, x1, y1, x2, y2, class, score).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from detector.errors import ModelError
from detector.pipeline.detections import Detections
from detector.pipeline.letterbox import ULTRALYTICS_RECIPE, YOLOX_RECIPE, Recipe
from detector.pipeline.modelgraph import ELEM_TYPES, Dim, ModelGraph, TensorSpec
from detector.pipeline.postprocess import cxcywh_to_xyxy

DEFAULT_INPUT_SIZE = (640, 640)  # for dynamic-shape exports that do not record imgsz
STRIDE_SETS = ((8, 16, 32), (8, 16, 32, 64))  # P5 and P6 heads
ANCHORS_PER_CELL = 3  # YOLOv5 / v7 / Scaled-YOLOv4
FLOAT16, FLOAT32 = 10, 1

FAMILIES = ("yolox", "yolox-decoded", "yolov5", "yolov8", "end2end")
ALIASES = {
    "yolov7": "yolov5",
    "scaled-yolov4": "yolov5",
    "yolov11": "yolov8",
    "yolo11": "yolov8",
    "yolov10": "end2end",
}

# (first output, conf, multi_label) -> candidates above conf, in input pixels
Decoder = Callable[[NDArray[np.float32], float, bool], Detections]


@dataclass(frozen=True)
class FamilyAdapter:
    """What the engine needs to run one model: its recipe and its output decoder."""

    name: str
    recipe: Recipe
    decode: Decoder
    suppress: bool  # False when the graph already ran NMS


@dataclass(frozen=True)
class Layout:
    """The facts about a model that the adapters are chosen and built from."""

    family: str
    input: TensorSpec
    input_size: tuple[int, int]  # (height, width)
    output: TensorSpec
    class_names: tuple[str, ...]
    # With a forced family: what identification says the model is (None: it cannot tell).
    forced_over: str | None = None
    forced: bool = False

    @property
    def input_dtype(self) -> type[np.floating]:
        return np.float16 if self.input.elem_type == FLOAT16 else np.float32


# --- decoders: one per output layout ----------------------------------------------------
# With ``multi_label`` an anchor becomes one candidate per class whose score passes ``conf``
# (Ultralytics' validation, YOLOX's class-aware demo NMS, YOLOv5's ``--multi-label``), not
# only for its best class: at a low threshold a box the model is unsure how to name is
# scored under each name, which is what mAP rewards.
def decode_objectness_rows(
    output: NDArray[np.float32], conf: float, multi_label: bool = False
) -> Detections:
    """``[1, N, 5+C]`` rows of ``cx, cy, w, h, objectness, C class scores``, decoded."""
    return _objectness_rows(output[0], conf, multi_label, grid=None)


def grid_decoder(input_size: tuple[int, int], rows: int) -> Decoder:
    """A decoder for raw YOLOX rows: ``xy = (dxy + cell) * stride``, ``wh = exp(.) * stride``."""
    strides = _strides_for(input_size, rows)
    if strides is None:
        raise ModelError(
            f"a raw YOLOX output needs one row per grid cell of strides 8/16/32 for a "
            f"{input_size[1]}x{input_size[0]} input; it has {rows} rows"
        )
    cells, steps = [], []
    for stride in strides:
        ys, xs = np.meshgrid(
            np.arange(input_size[0] // stride), np.arange(input_size[1] // stride), indexing="ij"
        )
        cells.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        steps.append(np.full(xs.size, stride))
    grid = (np.concatenate(cells).astype(np.float32), np.concatenate(steps).astype(np.float32))

    def decode(output: NDArray[np.float32], conf: float, multi_label: bool = False) -> Detections:
        return _objectness_rows(output[0], conf, multi_label, grid=grid)

    return decode


def _objectness_rows(
    rows: NDArray[np.float32],
    conf: float,
    multi_label: bool,
    grid: tuple[NDArray[np.float32], NDArray[np.float32]] | None,
) -> Detections:
    # A class score is at most 1, so objectness bounds the final score: filtering on it
    # first leaves only a handful of rows for the costly part.
    index = np.flatnonzero(rows[:, 4] > conf)
    if not index.size:
        return Detections.empty()
    picked = rows[index]
    boxes = picked[:, :4].astype(np.float32, copy=True)
    if grid is not None:
        cells, strides = grid[0][index], grid[1][index, None]
        boxes[:, :2] = (boxes[:, :2] + cells) * strides
        boxes[:, 2:] = np.exp(boxes[:, 2:]) * strides
    if multi_label:
        scores = picked[:, 4:5] * picked[:, 5:]
        anchors, class_ids = np.nonzero(scores > conf)
        return Detections(
            cxcywh_to_xyxy(boxes[anchors]),
            scores[anchors, class_ids].astype(np.float32),
            class_ids.astype(np.int64),
        )
    class_ids = picked[:, 5:].argmax(axis=1)
    best = picked[:, 4] * picked[np.arange(len(picked)), 5 + class_ids]
    return Detections(cxcywh_to_xyxy(boxes), best.astype(np.float32), class_ids.astype(np.int64))


def decode_class_columns(
    output: NDArray[np.float32], conf: float, multi_label: bool = False
) -> Detections:
    """``[1, 4+C, N]``: columns of ``cx, cy, w, h, C class scores`` (YOLOv8 / v11)."""
    columns = output[0]
    class_scores = columns[4:]
    best = class_scores.max(axis=0)
    index = np.flatnonzero(best > conf)
    if not index.size:
        return Detections.empty()
    picked = columns[:, index].T
    boxes = cxcywh_to_xyxy(picked[:, :4].astype(np.float32))
    if multi_label:
        anchors, class_ids = np.nonzero(picked[:, 4:] > conf)
        return Detections(
            boxes[anchors],
            picked[anchors, 4 + class_ids].astype(np.float32),
            class_ids.astype(np.int64),
        )
    class_ids = picked[:, 4:].argmax(axis=1)
    return Detections(boxes, best[index].astype(np.float32), class_ids.astype(np.int64))


def decode_end2end(
    output: NDArray[np.float32], conf: float, multi_label: bool = False
) -> Detections:
    """``[1, K, 6]`` (x1, y1, x2, y2, score, class) or ``[K, 7]`` (batch, x1, y1, x2, y2,
    class, score): boxes that already went through NMS in the graph, one class each, so
    ``multi_label`` has nothing to add."""
    if output.ndim == 2:
        boxes, class_ids, scores = output[:, 1:5], output[:, 5], output[:, 6]
    else:
        boxes, scores, class_ids = output[0, :, :4], output[0, :, 4], output[0, :, 5]
    keep = scores > conf
    return Detections(
        boxes[keep].astype(np.float32),
        scores[keep].astype(np.float32),
        np.rint(class_ids[keep]).astype(np.int64),
    )


# --- identifying the family --------------------------------------------------------------
def resolve(
    graph: ModelGraph, *, family: str | None = None, names: Sequence[str] | None = None
) -> Layout:
    """The layout of a model: its family (auto-detected unless given), input size and
    class names (from its metadata, else ``names``, else ``class_<id>``)."""
    image_input = _image_input(graph)
    output = _detection_output(graph)
    input_size = _input_size(image_input, graph.metadata)
    detected = None
    if family:
        name = _canonical(family)
        detected = _identified_or_none(graph, output, input_size)
        _check_forced_fits(name, output, input_size, detected)
    else:
        name = _identify(graph, output, input_size)
    count = _class_count(name, output)
    class_names = _metadata_names(graph.metadata) or tuple(names or ())
    if class_names and count is not None and len(class_names) != count:
        message = f"{len(class_names)} class names were given; the model has {count} classes"
        if family:
            message = f"read as {name}, the model has {count} classes but names " + (
                f"{len(class_names)}{_forced_hint(name, detected)}"
            )
        raise ModelError(message)
    return Layout(
        name,
        image_input,
        input_size,
        output,
        class_names or _numbered(count),
        forced_over=detected,
        forced=bool(family),
    )


def check_forced_scores(candidates: Detections, layout: Layout) -> None:
    """Refuse what a forced family decoded when its scores are not probabilities.

    Every family's scores lie in [0, 1]; outside that, the output was read with the wrong
    layout and its boxes and classes are garbage too. Checked only for a forced family:
    an identified one was matched to the output's shape.
    """
    scores = candidates.scores
    if layout.forced and scores.size and not (scores.min() >= 0.0 and scores.max() <= 1.0):
        raise ModelError(
            f"read as {layout.family}, the model's output gives scores from "
            f"{float(scores.min()):.3g} to {float(scores.max()):.3g}, not probabilities"
            f"{_forced_hint(layout.family, layout.forced_over)}"
        )


def build(layout: Layout) -> FamilyAdapter:
    """The adapter for ``layout`` (checking that its output fits the family)."""
    shape = layout.output.shape
    if layout.family == "end2end":
        if not (_is_fixed(shape, 3, -1, 6) or _is_fixed(shape, 2, -1, 7)):
            raise _unknown(layout.output, "end2end needs [1, K, 6] or [K, 7]")
        return FamilyAdapter("end2end", ULTRALYTICS_RECIPE, decode_end2end, suppress=False)
    if _class_count(layout.family, layout.output) is None:
        head = "4 + classes rows" if layout.family == "yolov8" else "5 + classes columns"
        raise _unknown(layout.output, f"{layout.family} needs [1, ?, ?] with {head}")
    if layout.family == "yolox":
        rows = shape[1]
        if not isinstance(rows, int):  # a dynamic-shape export: one row per grid cell
            rows = _cell_count(layout.input_size, STRIDE_SETS[0])
        decoder = grid_decoder(layout.input_size, rows)
        return FamilyAdapter("yolox", YOLOX_RECIPE, decoder, suppress=True)
    if layout.family == "yolox-decoded":
        return FamilyAdapter("yolox-decoded", YOLOX_RECIPE, decode_objectness_rows, suppress=True)
    if layout.family == "yolov5":
        return FamilyAdapter("yolov5", ULTRALYTICS_RECIPE, decode_objectness_rows, suppress=True)
    return FamilyAdapter("yolov8", ULTRALYTICS_RECIPE, decode_class_columns, suppress=True)


def parse_names(text: str) -> tuple[str, ...]:
    """Class names from a names file: one per line, line N is class id N."""
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return tuple(lines)


def _canonical(family: str) -> str:
    name = ALIASES.get(family.strip().lower(), family.strip().lower())
    if name not in FAMILIES:
        known = ", ".join(FAMILIES + tuple(ALIASES))
        raise ModelError(f"unknown model family {family!r}; known families: {known}")
    return name


def _identify(graph: ModelGraph, output: TensorSpec, input_size: tuple[int, int]) -> str:
    """Recognise the family from the output shape, the graph's operators and metadata."""
    shape = output.shape
    task = graph.metadata.get("task", "detect")
    if task != "detect":
        raise ModelError(f"this is a {task!r} model; only object detection models are supported")
    if _is_fixed(shape, 2, -1, 7):
        return "end2end"
    if len(shape) != 3:
        raise _unknown(output, "expected a 3-d output")
    _, first, second = shape
    cells = {_cell_count(input_size, strides) for strides in STRIDE_SETS}
    family = _row_family(graph, first, second, cells)
    columns_per_cell = not isinstance(second, int) or second in cells
    if family is None and isinstance(first, int) and first >= 5 and columns_per_cell:
        family = "yolov8"
    if family is None:
        raise _unknown(output, f"no known YOLO layout for a {input_size[1]}x{input_size[0]} input")
    return family


def _identified_or_none(
    graph: ModelGraph, output: TensorSpec, input_size: tuple[int, int]
) -> str | None:
    try:
        return _identify(graph, output, input_size)
    except ModelError:
        return None


def _check_forced_fits(
    family: str, output: TensorSpec, input_size: tuple[int, int], detected: str | None
) -> None:
    """Refuse a forced family whose head cannot have made this output: the shape rules that
    identify a family, applied to the one given (dimensions unknown until run time pass)."""
    shape = output.shape
    if len(shape) != 3 or family == "end2end":
        return  # end2end's shape is checked when its adapter is built
    cells = {_cell_count(input_size, strides) for strides in STRIDE_SETS}
    size = f"{input_size[1]}x{input_size[0]}"
    _, first, second = shape
    problem = None
    if family in ("yolox", "yolox-decoded") and isinstance(first, int) and first not in cells:
        problem = (
            f"one row per grid cell, {_cells_text(cells)} for a {size} input, not {first} rows"
        )
    elif family == "yolov5" and isinstance(first, int) and first not in {3 * n for n in cells}:
        anchors = _cells_text({ANCHORS_PER_CELL * n for n in cells})
        problem = f"three rows per grid cell, {anchors} for a {size} input, not {first} rows"
    elif family == "yolov8" and isinstance(second, int) and second not in cells:
        problem = f"one column per grid cell, {_cells_text(cells)} for a {size} input, not {second}"
    if problem:
        raise ModelError(
            f"the model's output {output.describe()} does not fit the {family} family, which "
            f"has {problem}{_forced_hint(family, detected)}"
        )


def _cells_text(counts: set[int]) -> str:
    return " or ".join(str(count) for count in sorted(counts))


def _forced_hint(family: str, detected: str | None) -> str:
    if detected and detected != family:
        return (
            f"; the model looks like {detected}: leave the family to be detected, "
            f"or force {detected}"
        )
    return "; no known family fits it" if detected is None else ""


def _row_family(graph: ModelGraph, rows: Dim, columns: Dim, cells: set[int]) -> str | None:
    """The family of a ``[1, rows, columns]`` output of one box per row, if it is one."""
    if not isinstance(columns, int) or columns < 6:
        return None
    if not isinstance(rows, int):  # dynamic rows: only the exporter can tell
        if "stride" in graph.metadata or "names" in graph.metadata:  # Ultralytics YOLOv5
            return "yolov5"
        return "yolox-decoded" if "Exp" in graph.op_types else "yolox"
    if rows in cells:
        # One row per grid cell and no anchors: YOLOX, decoded if the graph holds the
        # exp() of the box decode.
        return "yolox-decoded" if "Exp" in graph.op_types else "yolox"
    if rows in {ANCHORS_PER_CELL * n for n in cells}:
        return "yolov5"
    return "end2end" if columns == 6 else None


def _image_input(graph: ModelGraph) -> TensorSpec:
    if len(graph.inputs) != 1:
        seen = ", ".join(spec.describe() for spec in graph.inputs) or "none"
        raise ModelError(f"expected one image input [1, 3, H, W]; the model has: {seen}")
    spec = graph.inputs[0]
    shape = spec.shape
    if len(shape) != 4 or (shape[1] not in (3, None) and isinstance(shape[1], int)):
        raise ModelError(f"expected an image input [1, 3, H, W]; the model has {spec.describe()}")
    if spec.elem_type not in (FLOAT32, FLOAT16):
        kind = ELEM_TYPES.get(spec.elem_type, f"type {spec.elem_type}")
        raise ModelError(f"expected a float32 or float16 image input; {spec.name} is {kind}")
    return spec


def _detection_output(graph: ModelGraph) -> TensorSpec:
    if not graph.outputs:
        raise ModelError("the model has no outputs")
    return graph.outputs[0]


def _input_size(spec: TensorSpec, metadata: dict[str, str]) -> tuple[int, int]:
    height, width = spec.shape[2], spec.shape[3]
    if isinstance(height, int) and isinstance(width, int) and height > 0 and width > 0:
        return height, width
    imgsz = _literal(metadata, "imgsz")
    if isinstance(imgsz, int):
        return imgsz, imgsz
    if (
        isinstance(imgsz, list | tuple)
        and len(imgsz) == 2
        and all(isinstance(v, int) for v in imgsz)
    ):
        return int(imgsz[0]), int(imgsz[1])
    return DEFAULT_INPUT_SIZE


def _metadata_names(metadata: dict[str, str]) -> tuple[str, ...]:
    """Ultralytics writes ``names`` as a Python dict literal: ``{0: 'person', ...}``."""
    names = _literal(metadata, "names")
    if isinstance(names, dict) and names and all(isinstance(k, int) and k >= 0 for k in names):
        return tuple(str(names.get(i, f"class_{i}")) for i in range(max(names) + 1))
    if isinstance(names, list | tuple) and names:
        return tuple(str(n) for n in names)
    return ()


def _literal(metadata: dict[str, str], key: str) -> object:
    """A metadata value parsed as a Python literal (never evaluated as code), or None."""
    text = metadata.get(key)
    if text is None:
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _class_count(family: str, output: TensorSpec) -> int | None:
    shape = output.shape
    if family == "end2end" or len(shape) != 3:
        return None
    size = shape[1] if family == "yolov8" else shape[2]
    head = 4 if family == "yolov8" else 5
    return size - head if isinstance(size, int) and size > head else None


def _numbered(count: int | None) -> tuple[str, ...]:
    return tuple(f"class_{i}" for i in range(count or 0))


def _strides_for(input_size: tuple[int, int], rows: int) -> tuple[int, ...] | None:
    return next((s for s in STRIDE_SETS if _cell_count(input_size, s) == rows), None)


def _cell_count(input_size: tuple[int, int], strides: Sequence[int]) -> int:
    return sum((input_size[0] // s) * (input_size[1] // s) for s in strides)


def _is_fixed(shape: tuple[object, ...], rank: int, *dims: int) -> bool:
    """``shape`` has ``rank`` dims and its trailing dims equal ``dims`` (-1: anything)."""
    if len(shape) != rank:
        return False
    tail = shape[rank - len(dims) :]
    return all(want in (-1, got) for want, got in zip(dims, tail, strict=True))


def _unknown(output: TensorSpec, reason: str) -> ModelError:
    return ModelError(f"unsupported model output {output.describe()}: {reason}")
