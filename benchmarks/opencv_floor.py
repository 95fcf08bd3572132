"""The bare OpenCV handler our API handler is measured against (``bench.py runtime``).

What the leanest possible detector does with an API Gateway event, and nothing more: the
body decoded from base64 (pybase64, as ours), the JPEG decoded by OpenCV (BGR, as YOLOX
wants), resized with OpenCV's point bilinear to the YOLOX letterbox size (``int(side *
r)``), pasted top-left on grey 114, turned into a CHW float32 tensor, and
``session.run`` on a session built exactly as ours (``create_session``, so the inference is
the same and only the work around it differs). No token, no EXIF, no limits, no NMS, no
logs: it counts the rows whose objectness passes 0.25 and answers that.

OpenCV is not a dependency of the project (its wheel unpacks to ~150 MB): ``bench.py``
installs it into ``build/bench-site`` and puts that on this process's path only.
Run by ``python -m awslambdaric benchmarks.opencv_floor.handler`` with ``FLOOR_MODEL``
naming a plain ``.onnx``; each answer carries the handler's own step times.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import cv2  # type: ignore[import-not-found]
import numpy as np
import pybase64

from detector.pipeline.engine import create_session

MODEL_ENV = "FLOOR_MODEL"
PAD_VALUE = 114

cv2.setNumThreads(1)  # one vCPU's worth, like ORT_THREADS=1 on our side
_session = create_session(Path(os.environ[MODEL_ENV]).read_bytes(), threads=1)
_input = _session.get_inputs()[0]
_height, _width = _input.shape[2:]


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    started = time.perf_counter()
    data = pybase64.b64decode(event["body"])
    received = time.perf_counter()
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    decoded = time.perf_counter()
    height, width = image.shape[:2]
    ratio = min(_height / height, _width / width)
    new_w, new_h = int(width * ratio), int(height * ratio)
    resized = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    tensor = np.full((1, 3, _height, _width), PAD_VALUE, dtype=np.float32)
    tensor[0, :, :new_h, :new_w] = resized.transpose(2, 0, 1)
    prepared = time.perf_counter()
    (output,) = _session.run(None, {_input.name: tensor})
    inferred = time.perf_counter()
    boxes = int((output[0, :, 4] > 0.25).sum())
    timing = {
        "body": received - started,
        "decode": decoded - received,
        "preprocess": prepared - decoded,
        "inference": inferred - prepared,
        "total": time.perf_counter() - started,
    }
    body = {"boxes": boxes, "timing_ms": {step: s * 1000 for step, s in timing.items()}}
    return {"statusCode": 200, "body": json.dumps(body)}
