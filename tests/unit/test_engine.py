"""The engine's contract: options, session settings, results as JSON."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from detector.cpus import cpu_count
from detector.errors import BadRequestError, ModelError
from detector.pipeline.detections import Detections
from detector.pipeline.engine import (
    DetectionResult,
    DetectOptions,
    Detector,
    create_session,
)
from tests.unit.images import encode, solid
from tests.unit.onnx_graphs import constant_model, yolo_rows


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"conf": 1.5}, "conf must be between 0 and 1"),
        ({"iou": -0.1}, "iou must be between 0 and 1"),
        ({"conf": "high"}, "conf must be a number"),
        ({"max_det": 0}, "max_det must be between 1"),
        ({"max_det": 2.5}, "max_det must be a whole number"),
        ({"classes": frozenset({-1})}, "classes must be non-negative"),
    ],
)
def test_out_of_range_options_are_bad_requests(options, message):
    with pytest.raises(BadRequestError, match=message):
        DetectOptions(**options)


def test_the_default_options_are_the_documented_ones():
    assert DetectOptions() == DetectOptions(conf=0.25, iou=0.45, max_det=300, agnostic=False)


def test_the_session_uses_the_cpus_we_may_run_on_unless_told():
    model = constant_model(yolo_rows(84, 1))
    default = create_session(model)
    assert default.get_session_options().intra_op_num_threads == cpu_count()
    assert default.get_session_options().inter_op_num_threads == 1
    # its threads stop spinning when a run ends, leaving the CPUs to the next decode
    assert (
        default.get_session_options().get_session_config_entry("session.force_spinning_stop") == "1"
    )
    assert create_session(model, threads=1).get_session_options().intra_op_num_threads == 1


def test_an_unloadable_graph_is_a_model_error():
    # GIVEN a graph whose declared shapes are fine but whose node cannot run
    model = constant_model(yolo_rows(84, 1)).replace(b"ReduceSum", b"ReduceSux")
    with pytest.raises(ModelError, match="onnxruntime could not load the model"):
        Detector.from_bytes(model)


def test_a_result_serialises_with_labels_and_rounded_figures():
    result = DetectionResult(
        width=640,
        height=480,
        detections=Detections(
            boxes=np.array([[1.234, 2.0, 30.5, 40.126]], dtype=np.float32),
            scores=np.array([0.87654], dtype=np.float32),
            class_ids=np.array([1], dtype=np.int64),
        ),
        timing_ms={"total": 12.3456},
    )
    assert result.to_json(["cat", "dog"]) == {
        "width": 640,
        "height": 480,
        "detections": [
            {"box": [1.23, 2.0, 30.5, 40.13], "score": 0.8765, "class_id": 1, "label": "dog"}
        ],
        "timing_ms": {"total": 12.35},
    }


def test_a_model_whose_real_output_differs_from_its_declared_shape_is_a_model_error():
    # GIVEN a model that declares 8 columns (raw YOLOX with 3 classes) but outputs 2
    model = constant_model(np.zeros((1, 84, 2), np.float32), output_shape=(1, 84, 8))
    detector = Detector.from_bytes(model)
    # WHEN detecting THEN the error names what came out, instead of an IndexError
    with pytest.raises(ModelError, match=r"output \[1, 84, 2\] does not fit the yolox layout"):
        detector.detect(encode(solid(10, 10)))


def test_a_model_that_fails_at_run_time_is_a_model_error():
    # GIVEN a valid [K, 7] model whose Reshape cannot work on a 64x64 image (12288 values
    # do not make rows of 7): onnxruntime only finds out when it runs
    graph = helper.make_graph(
        [helper.make_node("Reshape", ["images", "rows_of_7"], ["output"])],
        "fails",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "h", "w"])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["k", 7])],
        initializer=[numpy_helper.from_array(np.array([-1, 7], np.int64), "rows_of_7")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    entry = model.metadata_props.add()
    entry.key, entry.value = "imgsz", "[64, 64]"
    detector = Detector.from_bytes(model.SerializeToString())
    # WHEN detecting THEN a typed error, not onnxruntime's own
    with pytest.raises(ModelError, match="the model failed to run"):
        detector.detect(encode(solid(10, 10)))
