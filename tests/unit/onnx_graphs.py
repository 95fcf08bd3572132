"""Tiny ONNX models whose output is known exactly, for testing every decode path.

The output is a constant table plus ``0 * sum(input)``: the graph still consumes its
input (onnxruntime would otherwise prune it), but what comes out is exactly the table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Dim = int | str


def constant_model(
    table: np.ndarray,
    *,
    input_shape: Sequence[Dim] = (1, 3, 64, 64),
    output_shape: Sequence[Dim] | None = None,
    metadata: Mapping[str, str] | None = None,
    with_exp: bool = False,
    input_type: int = TensorProto.FLOAT,
) -> bytes:
    """An ONNX model with one image input whose single output is always ``table``.

    ``with_exp`` puts an ``Exp`` node on the path, like a YOLOX export with the box
    decode in the graph.
    """
    source = "images"
    nodes = []
    if input_type != TensorProto.FLOAT:
        nodes.append(helper.make_node("Cast", [source], ["as_float"], to=TensorProto.FLOAT))
        source = "as_float"
    nodes += [
        helper.make_node("ReduceSum", [source], ["total"], keepdims=0),
        helper.make_node("Mul", ["total", "zero"], ["nothing"]),
    ]
    if with_exp:  # nothing * exp(nothing) is still nothing
        nodes += [
            helper.make_node("Exp", ["nothing"], ["one"]),
            helper.make_node("Mul", ["nothing", "one"], ["still_nothing"]),
        ]
    nodes.append(
        helper.make_node("Add", ["table", "still_nothing" if with_exp else "nothing"], ["output"])
    )
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("images", input_type, list(input_shape))],
        [
            helper.make_tensor_value_info(
                "output", TensorProto.FLOAT, list(output_shape or table.shape)
            )
        ],
        initializer=[
            numpy_helper.from_array(table.astype(np.float32), "table"),
            numpy_helper.from_array(np.array(0, dtype=np.float32), "zero"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in (metadata or {}).items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    serialized: bytes = model.SerializeToString()
    return serialized


def yolo_rows(count: int, classes: int) -> np.ndarray:
    """``[1, count, 5 + classes]`` of zeros: rows nobody detects, to fill in."""
    return np.zeros((1, count, 5 + classes), dtype=np.float32)


def yolov8_columns(count: int, classes: int) -> np.ndarray:
    """``[1, 4 + classes, count]`` of zeros."""
    return np.zeros((1, 4 + classes, count), dtype=np.float32)
