"""COCO ground truth from the YOLO-format sample set, and mAP@[.5:.95] with pycocotools.

Shared by the accuracy tests and the benchmarks that score candidates; pycocotools is a
development dependency, imported when an evaluation runs.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PIL import Image

COCO_CLASS_COUNT = 80


def ground_truth(
    coco_dir: Path,
) -> tuple[list[dict[str, object]], list[dict[str, object]], list[Path]]:
    """COCO ``images`` and ``annotations`` from the YOLO-format label files."""
    images: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    paths = sorted((coco_dir / "images").glob("*.jpg"))
    for image_id, path in enumerate(paths):
        width, height = Image.open(path).size
        images.append({"id": image_id, "width": width, "height": height})
        for line in (coco_dir / "labels" / f"{path.stem}.txt").read_text().splitlines():
            if not line.strip():
                continue
            class_id, cx, cy, w, h = line.split()
            bw, bh = float(w) * width, float(h) * height
            x, y = float(cx) * width - bw / 2, float(cy) * height - bh / 2
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": int(class_id),
                    "bbox": [x, y, bw, bh],
                    "area": bw * bh,
                    "iscrowd": 0,
                }
            )
    return images, annotations, paths


def mean_average_precision(
    images: Sequence[dict[str, object]],
    annotations: Sequence[dict[str, object]],
    found: Sequence[dict[str, Any]],
) -> float:
    """mAP@[.5:.95] of ``found`` (COCO results: image_id, category_id, xywh bbox, score)."""
    from pycocotools.coco import COCO  # noqa: PLC0415 - a development dependency
    from pycocotools.cocoeval import COCOeval  # noqa: PLC0415

    truth = COCO()
    truth.dataset = {
        "images": list(images),
        "annotations": list(annotations),
        "categories": [{"id": i} for i in range(COCO_CLASS_COUNT)],
    }
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        truth.createIndex()
        evaluation = COCOeval(truth, truth.loadRes(list(found)), "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return float(evaluation.stats[0])
