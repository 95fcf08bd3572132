"""Reading ONNX facts from bytes without the onnx package, checked against it."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from detector.errors import ModelError
from detector.pipeline.modelgraph import read_graph
from tests.unit.onnx_graphs import constant_model


def test_the_real_model_reads_the_same_as_with_the_onnx_package(model_bytes):
    graph = read_graph(model_bytes)
    reference = onnx.load_from_string(model_bytes)
    initializers = {t.name for t in reference.graph.initializer}
    assert [(s.name, s.shape) for s in graph.inputs] == [
        (i.name, tuple(d.dim_value for d in i.type.tensor_type.shape.dim))
        for i in reference.graph.input
        if i.name not in initializers
    ]
    assert graph.outputs[0].shape == (1, 3549, 85)
    assert graph.op_types == {n.op_type for n in reference.graph.node}


def test_symbolic_dims_metadata_and_element_types_are_read():
    model = constant_model(
        np.zeros((1, 84, 6), np.float32),
        input_shape=("batch", 3, 64, 64),
        output_shape=("batch", "anchors", 6),
        metadata={"names": "{0: 'a'}", "imgsz": "[64, 64]"},
    )
    graph = read_graph(model)
    assert graph.inputs[0].shape == ("batch", 3, 64, 64)
    assert graph.inputs[0].elem_type == onnx.TensorProto.FLOAT
    assert graph.outputs[0].describe() == "output[batch, anchors, 6]"
    assert graph.metadata == {"names": "{0: 'a'}", "imgsz": "[64, 64]"}
    assert {"ReduceSum", "Mul", "Add"} <= graph.op_types


def test_weights_listed_as_inputs_by_old_exporters_are_not_inputs():
    model = onnx.load_from_string(constant_model(np.zeros((1, 84, 6), np.float32)))
    model.graph.input.append(onnx.helper.make_tensor_value_info("table", 1, [1, 84, 6]))
    graph = read_graph(model.SerializeToString())
    assert [spec.name for spec in graph.inputs] == ["images"]


@pytest.mark.parametrize("cut", [3, 50, -7])
def test_truncated_bytes_are_not_a_model(model_bytes, cut):
    with pytest.raises(ModelError, match="not a valid ONNX file"):
        read_graph(model_bytes[:cut] if cut > 0 else model_bytes[:cut] + b"\xff\xff\xff")


def test_bytes_without_a_graph_are_not_a_model():
    with pytest.raises(ModelError, match="not a valid ONNX file"):
        read_graph(b"")
