"""Every output layout, decoded to the pixel through the whole engine.

Each model below outputs a constant table holding one object, placed so that, for a
100x50 image letterboxed into a 64x64 input, it lands at x 25-75, y 12.5-37.5 in the
original image: YOLOX pastes the 64x32 resized image at the top-left, Ultralytics centres
it (16 rows of padding above), so the same object sits at different input pixels.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from detector.errors import ModelError
from detector.pipeline.engine import DetectOptions, Detector, inspect_model
from tests.unit.images import encode, solid
from tests.unit.onnx_graphs import constant_model, yolo_rows, yolov8_columns

CELLS = 8 * 8 + 4 * 4 + 2 * 2  # strides 8, 16, 32 on a 64x64 input
EXPECTED_BOX = [25.0, 12.5, 75.0, 37.5]
IMAGE = encode(solid(100, 50))
# The object in input pixels, centre and size: (cx, cy, w, h).
YOLOX_OBJECT = (32.0, 16.0, 32.0, 16.0)  # image at the top-left
CENTRED_OBJECT = (32.0, 32.0, 32.0, 16.0)  # image centred vertically: 16 rows above


def only_detection(model: bytes, image: bytes = IMAGE, **kwargs) -> tuple[str, list[object]]:
    detector = Detector.from_bytes(model, **kwargs)
    result = detector.detect(image)
    assert len(result.detections) == 1
    return detector.info.family, [
        result.detections.boxes[0].tolist(),
        float(result.detections.scores[0]),
        int(result.detections.class_ids[0]),
    ]


def raw_yolox_table() -> np.ndarray:
    table = yolo_rows(CELLS, classes=3)
    # Stride-8 cell (x=3, y=1) is row 1 * 8 + 3: centre (1 + 3) * 8, (1 + 1) * 8 = (32, 16);
    # size exp(log 4) * 8 = 32 by exp(log 2) * 8 = 16.
    table[0, 11, :5] = [1.0, 1.0, math.log(4), math.log(2), 0.9]
    table[0, 11, 5:] = [0.0, 0.1, 0.8]
    return table


def decoded_rows(count: int, obj: tuple[float, float, float, float]) -> np.ndarray:
    table = yolo_rows(count, classes=3)
    table[0, 7, :5] = [*obj, 0.9]
    table[0, 7, 5:] = [0.0, 0.1, 0.8]
    return table


def test_raw_yolox_is_recognised_and_grid_decoded_to_the_pixel():
    family, found = only_detection(constant_model(raw_yolox_table()))
    assert family == "yolox"
    assert found[0] == pytest.approx(EXPECTED_BOX, abs=1e-4)
    assert found[1:] == [pytest.approx(0.72), 2]


def test_yolox_with_the_decode_in_the_graph_is_recognised_by_its_exp():
    model = constant_model(decoded_rows(CELLS, YOLOX_OBJECT), with_exp=True)
    family, found = only_detection(model)
    assert family == "yolox-decoded"
    assert found[0] == pytest.approx(EXPECTED_BOX, abs=1e-4)
    assert found[1:] == [pytest.approx(0.72), 2]


def test_yolov5_rows_with_three_anchors_per_cell_use_the_centred_letterbox():
    family, found = only_detection(constant_model(decoded_rows(3 * CELLS, CENTRED_OBJECT)))
    assert family == "yolov5"
    assert found[0] == pytest.approx(EXPECTED_BOX, abs=1e-4)
    assert found[1:] == [pytest.approx(0.72), 2]


def test_yolov8_columns_without_objectness_are_decoded_to_the_pixel():
    table = yolov8_columns(CELLS, classes=3)
    table[0, :4, 5] = CENTRED_OBJECT
    table[0, 4:, 5] = [0.1, 0.0, 0.72]
    family, found = only_detection(constant_model(table))
    assert family == "yolov8"
    assert found[0] == pytest.approx(EXPECTED_BOX, abs=1e-4)
    assert found[1:] == [pytest.approx(0.72), 2]


def test_end_to_end_k_by_6_rows_are_corner_boxes_after_nms():
    table = np.zeros((1, 300, 6), dtype=np.float32)
    table[0, 0] = [16, 24, 48, 40, 0.72, 2]
    table[0, 1] = [17, 24, 48, 40, 0.5, 2]  # overlaps row 0: the graph's NMS kept it
    detector = Detector.from_bytes(constant_model(table))
    result = detector.detect(IMAGE)
    assert detector.info.family == "end2end"
    assert result.detections.boxes.tolist()[0] == pytest.approx(EXPECTED_BOX, abs=1e-4)
    assert result.detections.scores.tolist() == pytest.approx([0.72, 0.5])
    assert result.detections.class_ids.tolist() == [2, 2]


def test_yolov7_onnxruntime_end2end_k_by_7_rows_carry_the_batch_index_first():
    table = np.array([[0, 16, 24, 48, 40, 2, 0.72], [0, 0, 0, 8, 8, 1, 0.1]], dtype=np.float32)
    model = constant_model(table, output_shape=("detections", 7))
    family, found = only_detection(model)
    assert family == "end2end"
    assert found[0] == pytest.approx(EXPECTED_BOX, abs=1e-4)
    assert found[1:] == [pytest.approx(0.72), 2]


def test_a_rotated_photo_is_reported_upright():
    # GIVEN the same 100x50 picture stored as 50x100 with EXIF "rotate 90 clockwise"
    stored = encode(solid(50, 100), "JPEG", orientation=6)
    # WHEN detecting with the raw YOLOX model
    detector = Detector.from_bytes(constant_model(raw_yolox_table()))
    result = detector.detect(stored)
    # THEN sizes and boxes are those of the upright picture
    assert (result.width, result.height) == (100, 50)
    assert result.detections.boxes[0].tolist() == pytest.approx(EXPECTED_BOX, abs=1e-4)


def test_the_family_can_be_forced():
    # A decoded YOLOX table without Exp in the graph would be taken for raw YOLOX.
    model = constant_model(decoded_rows(CELLS, YOLOX_OBJECT))
    family, found = only_detection(model, family="yolox-decoded")
    assert family == "yolox-decoded"
    assert found[0] == pytest.approx(EXPECTED_BOX, abs=1e-4)


def test_family_aliases_name_the_shared_head():
    model = constant_model(decoded_rows(3 * CELLS, CENTRED_OBJECT))
    assert inspect_model(model, family="YOLOv7").family == "yolov5"


def test_an_unknown_family_name_is_refused_with_the_known_ones():
    model = constant_model(raw_yolox_table())
    with pytest.raises(ModelError, match=r"unknown model family 'yolov99'.*yolox"):
        inspect_model(model, family="yolov99")


def test_ultralytics_metadata_supplies_names_and_input_size_of_a_dynamic_model():
    # GIVEN a dynamic-shape YOLOv8 export: the input size is only in the metadata
    table = yolov8_columns(CELLS, classes=3)
    table[0, :4, 5] = CENTRED_OBJECT
    table[0, 4:, 5] = [0.0, 0.0, 0.9]
    metadata = {
        "author": "Ultralytics",
        "task": "detect",
        "stride": "32",
        "imgsz": "[64, 64]",
        "names": "{0: 'person', 1: 'bicycle', 2: 'car'}",
    }
    model = constant_model(
        table,
        input_shape=("batch", 3, "height", "width"),
        output_shape=("batch", 7, "anchors"),
        metadata=metadata,
    )
    # WHEN loading it, even with a names file
    detector = Detector.from_bytes(model, names=["a", "b", "c"])
    # THEN the metadata wins, and the box is mapped through the 64x64 letterbox
    assert detector.info.family == "yolov8"
    assert detector.info.input_size == (64, 64)
    assert detector.info.class_names == ("person", "bicycle", "car")
    result = detector.detect(IMAGE)
    assert result.detections.boxes[0].tolist() == pytest.approx(EXPECTED_BOX, abs=1e-4)
    assert result.to_json(detector.info.class_names)["detections"][0]["label"] == "car"


def test_names_metadata_is_parsed_as_a_literal_never_run():
    model = constant_model(
        raw_yolox_table(), metadata={"names": "__import__('os').system('exit 3')"}
    )
    assert inspect_model(model).class_names == ("class_0", "class_1", "class_2")


def test_a_names_file_fills_in_when_the_model_has_none():
    detector = Detector.from_bytes(constant_model(raw_yolox_table()), names=["cat", "dog", "car"])
    assert detector.info.class_names == ("cat", "dog", "car")


def test_a_names_file_of_the_wrong_length_is_refused():
    with pytest.raises(ModelError, match="2 class names were given; the model has 3"):
        Detector.from_bytes(constant_model(raw_yolox_table()), names=["cat", "dog"])


def test_an_unknown_layout_names_the_shapes_seen():
    model = constant_model(np.zeros((1, 10, 3), dtype=np.float32))
    with pytest.raises(ModelError, match=r"output\[1, 10, 3\]"):
        inspect_model(model)


def test_a_raw_yolox_table_whose_rows_do_not_match_the_grid_is_refused():
    model = constant_model(yolo_rows(100, classes=3))
    with pytest.raises(ModelError, match="100 rows"):
        inspect_model(model, family="yolox")


def test_a_segmentation_model_is_refused():
    model = constant_model(yolov8_columns(CELLS, 3), metadata={"task": "segment"})
    with pytest.raises(ModelError, match="'segment' model"):
        inspect_model(model)


def test_a_model_with_a_non_image_input_is_refused():
    from onnx import TensorProto  # noqa: PLC0415

    model = constant_model(raw_yolox_table(), input_type=TensorProto.INT64)
    with pytest.raises(ModelError, match="float32 or float16 image input; images is int64"):
        inspect_model(model)


def test_a_float16_input_gets_a_float16_tensor():
    from onnx import TensorProto  # noqa: PLC0415

    model = constant_model(raw_yolox_table(), input_type=TensorProto.FLOAT16)
    _, found = only_detection(model)
    assert found[0] == pytest.approx(EXPECTED_BOX, abs=1e-4)


def test_bytes_that_are_not_onnx_are_refused():
    with pytest.raises(ModelError, match="not a valid ONNX file"):
        inspect_model(b"\x89PNG\r\n\x1a\n not a model")


def test_class_aware_nms_keeps_overlapping_boxes_of_different_classes():
    # GIVEN two nearly identical decoded YOLOX rows of different classes
    table = decoded_rows(CELLS, YOLOX_OBJECT)
    table[0, 8] = table[0, 7]
    table[0, 8, 5:] = [0.7, 0.0, 0.0]
    model = constant_model(table, with_exp=True)
    detector = Detector.from_bytes(model)
    # WHEN / THEN: class-aware keeps both, agnostic only the best
    assert detector.detect(IMAGE).detections.class_ids.tolist() == [2, 0]
    agnostic = detector.detect(IMAGE, DetectOptions(agnostic=True))
    assert agnostic.detections.class_ids.tolist() == [2]
    only_0 = detector.detect(IMAGE, DetectOptions(classes=frozenset({0})))
    assert only_0.detections.class_ids.tolist() == [0]


def test_a_forced_family_whose_output_cannot_fit_is_refused():
    # GIVEN rows of 5 values: room for a box and its objectness, none for a class
    model = constant_model(np.zeros((1, 84, 5), np.float32))
    with pytest.raises(ModelError, match=r"yolox needs \[1, \?, \?\] with 5 \+ classes columns"):
        inspect_model(model, family="yolox")


@pytest.mark.parametrize(
    ("family", "rows"),
    [("yolov5", "252 or 255 for a 64x64 input, not 84 rows"), ("yolov8", "not 8")],
)
def test_a_forced_family_whose_head_cannot_make_the_output_is_refused_naming_the_detected_one(
    family, rows
):
    # GIVEN a raw YOLOX table: one row per grid cell, 5 + 3 columns
    model = constant_model(raw_yolox_table())
    # WHEN it is forced to be read as a family with another head
    # THEN it is refused, saying what the output would need and what the model is
    with pytest.raises(ModelError, match=rf"{rows}.*looks like yolox.*force yolox"):
        Detector.from_bytes(model, family=family)


def test_forcing_between_two_families_of_one_head_shape_is_allowed():
    # raw and decoded YOLOX differ only by the decode in the graph, which only the user knows
    model = constant_model(raw_yolox_table())
    assert inspect_model(model, family="yolox-decoded").family == "yolox-decoded"


def test_a_forced_family_that_decodes_scores_above_one_is_refused_on_its_first_run():
    # GIVEN a raw YOLOX table whose last dimension the export left dynamic, so that its shape
    # does not tell that a YOLOv8 head could not have made it
    model = constant_model(raw_yolox_table(), output_shape=(1, CELLS, "attributes"))
    detector = Detector.from_bytes(model, family="yolov8")
    # WHEN it runs: the YOLOv8 reading takes box sizes (1.39) for class scores
    # THEN the garbage is refused instead of answered
    with pytest.raises(ModelError, match=r"read as yolov8.*to 1\.39, not probabilities"):
        detector.detect(IMAGE)


def test_the_detected_family_is_never_checked_against_score_ranges():
    # Its shape matched the output; a score check would only cost time.
    table = raw_yolox_table()
    table[0, 11, 4] = 1.5  # an objectness over 1: the model's business, not the layout's
    family, found = only_detection(constant_model(table))
    assert family == "yolox"
    assert found[1] == pytest.approx(1.2)


def test_a_dynamic_raw_yolox_export_decodes_one_row_per_grid_cell():
    # GIVEN a raw YOLOX export with dynamic shapes and its size in the metadata
    model = constant_model(
        raw_yolox_table(),
        input_shape=("batch", 3, "height", "width"),
        output_shape=("batch", "anchors", 8),
        metadata={"imgsz": "[64, 64]"},
    )
    family, found = only_detection(model)
    assert family == "yolox"
    assert found[0] == pytest.approx(EXPECTED_BOX, abs=1e-4)


def test_a_big_rotated_jpeg_decoded_reduced_is_reported_upright_at_full_size():
    # GIVEN the 100x50 picture at 32x (3200x1600), stored turned (EXIF 6) as 1600x3200:
    # big enough that the JPEG is decoded at an eighth before being resized and turned
    stored = encode(solid(1600, 3200), "JPEG", orientation=6)
    detector = Detector.from_bytes(constant_model(raw_yolox_table()))
    result = detector.detect(stored)
    # THEN sizes and boxes are those of the full-size upright picture
    assert (result.width, result.height) == (3200, 1600)
    expected = [v * 32 for v in EXPECTED_BOX]
    assert result.detections.boxes[0].tolist() == pytest.approx(expected, abs=1e-3)


def two_class_models() -> dict[str, bytes]:
    """One model per family whose single object scores 0.72 as class 2 and 0.54 as class 0."""
    raw = raw_yolox_table()
    raw[0, 11, 5:] = [0.6, 0.1, 0.8]
    decoded = decoded_rows(CELLS, YOLOX_OBJECT)
    decoded[0, 7, 5:] = [0.6, 0.1, 0.8]
    anchors = decoded_rows(3 * CELLS, CENTRED_OBJECT)
    anchors[0, 7, 5:] = [0.6, 0.1, 0.8]
    columns = yolov8_columns(CELLS, classes=3)
    columns[0, :4, 5] = CENTRED_OBJECT
    columns[0, 4:, 5] = [0.54, 0.1, 0.72]
    return {
        "yolox": constant_model(raw),
        "yolox-decoded": constant_model(decoded, with_exp=True),
        "yolov5": constant_model(anchors),
        "yolov8": constant_model(columns),
    }


@pytest.mark.parametrize("family", ["yolox", "yolox-decoded", "yolov5", "yolov8"])
def test_multi_label_scores_a_box_under_every_class_that_passes(family):
    # GIVEN a model whose one object scores 0.72 as class 2 and 0.54 as class 0
    detector = Detector.from_bytes(two_class_models()[family])
    assert detector.info.family == family
    # WHEN / THEN: by default it is named once, by its best class
    single = detector.detect(IMAGE).detections
    assert single.class_ids.tolist() == [2]
    # with multi-label, once per class over conf, the same box each time, best first
    multi = detector.detect(IMAGE, DetectOptions(multi_label=True)).detections
    assert multi.class_ids.tolist() == [2, 0]
    assert multi.scores.tolist() == pytest.approx([0.72, 0.54])
    for box in multi.boxes.tolist():
        assert box == pytest.approx(EXPECTED_BOX, abs=1e-4)
    # a class under conf stays out, and agnostic NMS folds the names back into one
    strict = detector.detect(IMAGE, DetectOptions(conf=0.6, multi_label=True)).detections
    assert strict.class_ids.tolist() == [2]
    agnostic = detector.detect(IMAGE, DetectOptions(multi_label=True, agnostic=True))
    assert agnostic.detections.class_ids.tolist() == [2]


def test_multi_label_leaves_an_end_to_end_model_as_it_is():
    # GIVEN NMS done in the graph: one class per row already
    table = np.zeros((1, 300, 6), dtype=np.float32)
    table[0, 0] = [16, 24, 48, 40, 0.72, 2]
    table[0, 1] = [16, 24, 48, 40, 0.54, 0]
    detector = Detector.from_bytes(constant_model(table))
    single = detector.detect(IMAGE).detections
    multi = detector.detect(IMAGE, DetectOptions(multi_label=True)).detections
    assert multi.class_ids.tolist() == single.class_ids.tolist() == [2, 0]
    assert multi.boxes.tolist() == single.boxes.tolist()
