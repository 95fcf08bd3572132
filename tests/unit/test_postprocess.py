"""NMS and the last steps: filters, max_det, mapping back."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.pipeline.detections import Detections
from detector.pipeline.letterbox import Transform
from detector.pipeline.postprocess import cxcywh_to_xyxy, finish, nms

IDENTITY = Transform(1.0, 1.0, 0.0, 0.0, 1000, 1000)


def boxes(*rows: list[float]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def candidates(rows: list[list[Any]], scores: list[float], classes: list[int]) -> Detections:
    return Detections(
        boxes(*rows), np.array(scores, dtype=np.float32), np.array(classes, dtype=np.int64)
    )


def test_centre_size_boxes_become_corner_boxes():
    assert cxcywh_to_xyxy(boxes([50, 40, 20, 10])).tolist() == [[40, 35, 60, 45]]


def test_nms_drops_a_box_overlapping_a_better_one_above_the_threshold():
    # IoU of these two is 80/120 = 0.667; the third box is far away
    b = boxes([0, 0, 10, 10], [2, 0, 12, 10], [50, 50, 60, 60])
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    assert nms(b, scores, 0.5).tolist() == [0, 2]
    assert nms(b, scores, 0.7).tolist() == [0, 1, 2]


def test_nms_keeps_a_box_whose_iou_equals_the_threshold():
    b = boxes([0, 0, 10, 10], [0, 0, 5, 10])  # IoU = 50 / 100 exactly
    scores = np.array([0.9, 0.8], dtype=np.float32)
    assert nms(b, scores, 0.5).tolist() == [0, 1]
    assert nms(b, scores, 0.49).tolist() == [0]


def test_nms_returns_the_kept_boxes_best_first():
    b = boxes([0, 0, 10, 10], [50, 50, 60, 60], [100, 100, 110, 110])
    scores = np.array([0.2, 0.9, 0.5], dtype=np.float32)
    assert nms(b, scores, 0.5).tolist() == [1, 2, 0]
    assert nms(b, scores, 0.5, max_keep=2).tolist() == [1, 2]


def test_class_aware_nms_never_suppresses_across_classes():
    b = boxes([0, 0, 10, 10], [0, 0, 10, 10], [1, 0, 11, 10])
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    classes = np.array([0, 1, 0], dtype=np.int64)
    assert nms(b, scores, 0.5, class_ids=classes).tolist() == [0, 1]
    assert nms(b, scores, 0.5).tolist() == [0]


def test_degenerate_boxes_do_not_break_nms():
    b = boxes([5, 5, 5, 5], [5, 5, 5, 5], [0, 0, 10, 10])
    scores = np.array([0.9, 0.8, 0.7], dtype=np.float32)
    assert nms(b, scores, 0.5).tolist() == [0, 1, 2]


def test_nms_of_nothing_is_nothing():
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []


def test_finish_filters_scores_strictly_above_conf_and_by_class():
    found = candidates(
        [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50]], [0.25, 0.6, 0.9], [0, 1, 2]
    )
    kept = finish(found, IDENTITY, conf=0.25, iou=0.5, max_det=10, agnostic=False, classes=None)
    assert kept.class_ids.tolist() == [2, 1]
    only = finish(found, IDENTITY, conf=0.1, iou=0.5, max_det=10, agnostic=False, classes={0, 1})
    assert only.class_ids.tolist() == [1, 0]


def test_finish_caps_at_max_det_keeping_the_best():
    rows = [[i * 20, 0, i * 20 + 10, 10] for i in range(5)]
    found = candidates(rows, [0.5, 0.9, 0.6, 0.8, 0.7], [0] * 5)
    kept = finish(found, IDENTITY, conf=0.1, iou=0.5, max_det=2, agnostic=False, classes=None)
    assert kept.scores.tolist() == pytest.approx([0.9, 0.8])


def test_finish_maps_boxes_to_the_original_image_and_clips_them():
    transform = Transform(0.5, 0.5, 0, 16, 100, 60)
    found = candidates([[10, 16, 30, 36], [-4, 10, 60, 60]], [0.9, 0.8], [0, 1])
    kept = finish(found, transform, conf=0.1, iou=0.5, max_det=10, agnostic=False, classes=None)
    assert kept.boxes.tolist() == [[20, 0, 60, 40], [0, 0, 100, 60]]
    assert kept.boxes.dtype == np.float32
    assert kept.class_ids.dtype == np.int64


def test_finish_without_suppression_keeps_overlaps():
    found = candidates([[0, 0, 10, 10], [0, 0, 10, 10]], [0.9, 0.8], [0, 0])
    kept = finish(
        found, IDENTITY, conf=0.1, iou=0.5, max_det=10, agnostic=False, classes=None, suppress=False
    )
    assert len(kept) == 2


def test_finish_of_nothing_is_the_empty_result():
    kept = finish(
        Detections.empty(), IDENTITY, conf=0.1, iou=0.5, max_det=10, agnostic=False, classes=None
    )
    assert len(kept) == 0
    assert kept.boxes.shape == (0, 4)


def reference_nms(b: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Greedy NMS written the slow, obvious way."""

    def iou(i: int, j: int) -> float:
        w = max(0.0, min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0]))
        h = max(0.0, min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1]))
        inter = w * h
        union = (
            (b[i, 2] - b[i, 0]) * (b[i, 3] - b[i, 1])
            + (b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1])
            - inter
        )
        return inter / union if union > 0 else 0.0

    kept: list[int] = []
    for i in sorted(range(len(b)), key=lambda k: (-scores[k], k)):
        if all(iou(i, k) <= threshold for k in kept):
            kept.append(i)
    return kept


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    count=st.integers(0, 40),
    threshold=st.sampled_from([0.3, 0.45, 0.65]),
)
def test_vectorised_nms_agrees_with_the_obvious_loop(seed, count, threshold):
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 100, (count, 2))
    size = rng.uniform(1, 40, (count, 2))
    b = np.concatenate([corner, corner + size], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, count).astype(np.float32)
    assert nms(b, scores, threshold).tolist() == reference_nms(b, scores, threshold)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), count=st.integers(0, 40))
def test_class_aware_nms_is_the_obvious_loop_run_per_class(seed, count):
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 100, (count, 2))
    b = np.concatenate([corner, corner + rng.uniform(1, 40, (count, 2))], axis=1)
    b = b.astype(np.float32)
    scores = rng.uniform(0, 1, count).astype(np.float32)
    classes = rng.integers(0, 3, count).astype(np.int64)
    expected: list[int] = []
    for class_id in range(3):
        members = np.flatnonzero(classes == class_id)
        expected += [int(members[k]) for k in reference_nms(b[members], scores[members], 0.45)]
    expected.sort(key=lambda k: (-scores[k], k))
    assert nms(b, scores, 0.45, class_ids=classes).tolist() == expected
