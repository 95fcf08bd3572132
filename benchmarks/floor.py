"""The bare floor of any onnxruntime detector on Lambda: the handler to beat.

Nothing but ``onnxruntime``, ``numpy``, ``PIL.Image`` and ``boto3``: the first call fetches
a plain ``.onnx`` from S3 (``FLOOR_MODEL_URI``), builds a session from the bytes with one
thread, then every call decodes the JPEG in an HTTP API event's body, resizes it to the
model's input, runs it and counts the boxes over 0.25. No auth, no sealing, no logging, no
letterbox or NMS: what every detector must do at the least. The cold-start benchmark
(``benchmarks.coldstart``) runs it through ``python -m awslambdaric`` beside ours.
"""

from __future__ import annotations

import base64
import io
import json
import os
from typing import Any

import boto3
import numpy as np
import onnxruntime as ort
from PIL import Image

MODEL_URI = "FLOOR_MODEL_URI"  # s3://bucket/key of a plain .onnx
_session: ort.InferenceSession | None = None


def session() -> ort.InferenceSession:
    global _session  # noqa: PLW0603 - one session per process, as a Lambda handler keeps it
    if _session is None:
        _session = one_thread_session(fetch(MODEL_URI))
    return _session


def fetch(uri_variable: str) -> bytes:
    """The S3 object named by the environment variable ``uri_variable`` (``s3://b/k``)."""
    bucket, _, key = os.environ[uri_variable].removeprefix("s3://").partition("/")
    body: bytes = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def one_thread_session(model: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return answer(session(), event)


def answer(model: ort.InferenceSession, event: dict[str, Any]) -> dict[str, Any]:
    """The JPEG in an HTTP API event's body, resized, run, its boxes over 0.25 counted."""
    model_input = model.get_inputs()[0]
    height, width = model_input.shape[2:]
    image = Image.open(io.BytesIO(base64.b64decode(event["body"]))).convert("RGB")
    pixels = np.asarray(image.resize((width, height)), dtype=np.float32)
    output = model.run(None, {model_input.name: pixels.transpose(2, 0, 1)[None]})[0][0]
    scores = output[:, 4] * output[:, 5:].max(axis=1)
    boxes = int((scores > 0.25).sum())
    return {"statusCode": 200, "body": json.dumps({"boxes": boxes})}
