"""From decoded candidate boxes to final detections: filter, NMS, cap, map back.

Boxes here are ``(N, 4)`` float32 ``x1, y1, x2, y2``, held in ``Detections`` all along: the
candidates a family decodes are in model-input pixels and unsorted; ``finish`` filters,
suppresses and sorts them, and ``Transform.undo`` maps them to original-image pixels.
"""

from __future__ import annotations

from collections.abc import Set

import numpy as np
from numpy.typing import NDArray

from detector.pipeline.detections import Detections
from detector.pipeline.letterbox import Transform

# Like Ultralytics' max_nms: at very low thresholds, only the best this many boxes enter NMS,
# which keeps its cost bounded whatever the model outputs.
MAX_NMS_CANDIDATES = 30_000


def cxcywh_to_xyxy(boxes: NDArray[np.float32]) -> NDArray[np.float32]:
    """``(N, 4)`` centre/size boxes → corner boxes."""
    half = boxes[:, 2:4] / 2
    return np.concatenate([boxes[:, 0:2] - half, boxes[:, 0:2] + half], axis=1)


def nms(
    boxes: NDArray[np.float32],
    scores: NDArray[np.float32],
    iou_threshold: float,
    *,
    class_ids: NDArray[np.int64] | None = None,
    max_keep: int | None = None,
) -> NDArray[np.intp]:
    """Indices of the boxes greedy NMS keeps, highest score first.

    A box is dropped when its IoU with a kept, higher-scoring box is above
    ``iou_threshold``. With ``class_ids``, boxes of different classes never suppress each
    other: each class is shifted to its own region of the plane, which does every class
    in the same vectorised pass.
    """
    if class_ids is not None and len(boxes):
        offset = float(np.abs(boxes).max()) + 1.0
        boxes = boxes + (class_ids.astype(np.float32) * offset)[:, None]
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = (x2 - x1) * (y2 - y1)
    order = np.argsort(-scores, kind="stable")
    limit = len(order) if max_keep is None else max_keep
    keep: list[int] = []
    while order.size and len(keep) < limit:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        width = np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest])
        height = np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest])
        inter = np.maximum(width, 0) * np.maximum(height, 0)
        union = areas[best] + areas[rest] - inter
        iou = inter / np.maximum(union, np.finfo(np.float32).tiny)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, dtype=np.intp)


def finish(
    candidates: Detections,
    transform: Transform,
    *,
    conf: float,
    iou: float,
    max_det: int,
    agnostic: bool,
    classes: Set[int] | None,
    suppress: bool = True,
) -> Detections:
    """Class filter, score filter, NMS (unless the model already did it), ``max_det``,
    then boxes mapped back to the original image."""
    mask = candidates.scores > conf
    if classes is not None:
        mask &= np.isin(candidates.class_ids, np.fromiter(classes, np.int64, len(classes)))
    found = candidates.take(mask)
    if len(found.scores) > MAX_NMS_CANDIDATES:
        found = found.take(np.argpartition(-found.scores, MAX_NMS_CANDIDATES)[:MAX_NMS_CANDIDATES])
    if suppress:
        keep = nms(
            found.boxes,
            found.scores,
            iou,
            class_ids=None if agnostic else found.class_ids,
            max_keep=max_det,
        )
    else:
        keep = np.argsort(-found.scores, kind="stable")[:max_det]
    if not len(keep):
        return Detections.empty()
    kept = found.take(keep)
    return Detections(
        boxes=transform.undo(kept.boxes),
        scores=kept.scores.astype(np.float32, copy=False),
        class_ids=kept.class_ids.astype(np.int64, copy=False),
    )
