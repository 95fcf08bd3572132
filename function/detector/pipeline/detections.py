"""The one result type of the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Detections:
    """Detected objects of one image.

    boxes: ``(N, 4)`` float32, ``x1, y1, x2, y2`` in original-image pixels, clipped to it.
    scores: ``(N,)`` float32 in ``[0, 1]``, sorted from highest.
    class_ids: ``(N,)`` int64, contiguous ids into the model's class names.

    Inside the pipeline the same container holds a family's candidates before NMS: then the
    boxes are in model-input pixels and the scores unsorted (see ``postprocess``).
    """

    boxes: NDArray[np.float32]
    scores: NDArray[np.float32]
    class_ids: NDArray[np.int64]

    @classmethod
    def empty(cls) -> Detections:
        return cls(
            boxes=np.zeros((0, 4), dtype=np.float32),
            scores=np.zeros((0,), dtype=np.float32),
            class_ids=np.zeros((0,), dtype=np.int64),
        )

    def take(self, index: NDArray[np.intp] | NDArray[np.bool_]) -> Detections:
        """The detections at ``index`` (positions, or a mask), in that order."""
        return Detections(self.boxes[index], self.scores[index], self.class_ids[index])

    def __len__(self) -> int:
        return int(self.scores.shape[0])

    def to_json(self, names: Sequence[str]) -> list[dict[str, Any]]:
        """The API/CLI form: ``[{"box", "score", "class_id", "label"}]``.

        Boxes are rounded to 0.01 px and scores to 4 decimals: more is noise in JSON.
        """
        return [
            {
                "box": [round(float(v), 2) for v in box],
                "score": round(float(score), 4),
                "class_id": int(class_id),
                "label": names[class_id] if 0 <= class_id < len(names) else f"class_{class_id}",
            }
            for box, score, class_id in zip(self.boxes, self.scores, self.class_ids, strict=True)
        ]
