"""The JSON documents we return and write: detections with their model, errors, S3 results.

One place for their shape, so the API response, the S3 result file and the CLI agree.
"""

from __future__ import annotations

from typing import Any

import pybase64

from detector.aws import ObjectInfo, S3Location
from detector.errors import DetectorError
from detector.model.store import LoadedModel
from detector.pipeline.engine import DetectionResult


def class_names(model: LoadedModel) -> tuple[str, ...]:
    return model.detector.info.class_names


def model_document(model: LoadedModel) -> dict[str, Any]:
    """What ``GET /model`` shows: enough to know which model answered, nothing secret."""
    info = model.detector.info
    height, width = info.input_size
    return {
        "model_id": model.model_id,
        "sha256": model.sha256,
        "family": info.family,
        "input_size": {"height": height, "width": width},
        "classes": list(info.class_names),
    }


def model_reference(model: LoadedModel) -> dict[str, str]:
    return {"id": model.model_id, "sha256": model.sha256}


def detection_document(
    result: DetectionResult,
    model: LoadedModel,
    *,
    request_id: str | None = None,
    annotated_jpeg: bytes | None = None,
) -> dict[str, Any]:
    """``{"width", "height", "detections", "timing_ms", "model"}``, plus the optional parts.

    ``annotated_image`` is the annotated JPEG in base64; ``request_id`` the Lambda request id.
    """
    document = {**result.to_json(class_names(model)), "model": model_reference(model)}
    if annotated_jpeg is not None:
        document["annotated_image"] = pybase64.b64encode_as_string(annotated_jpeg)
    if request_id is not None:
        document["request_id"] = request_id
    return document


def error_document(error: DetectorError, request_id: str | None) -> dict[str, Any]:
    """``{"error": {"code", "message"}, "request_id"}``: the message is for the user."""
    return {"error": {"code": error.code, "message": error.message}, "request_id": request_id}


def source_document(
    location: S3Location,
    *,
    info: ObjectInfo | None = None,
    etag: str | None = None,
    sequencer: str | None = None,
) -> dict[str, Any]:
    """Which object, which version of it, and where in S3's event order a result stands.

    What S3 returned (``info``) wins over what the event said (``etag``).
    """
    return {
        "bucket": location.bucket,
        "key": location.key,
        "version_id": location.version_id or (info.version_id if info else None),
        "etag": (info.etag if info else etag or "").strip('"') or None,
        "sequencer": sequencer,
    }


def upload_result_document(
    source: dict[str, Any],
    *,
    result: DetectionResult | None = None,
    model: LoadedModel | None = None,
    error: DetectorError | None = None,
    annotated: S3Location | None = None,
) -> dict[str, Any]:
    """The result file of one upload: its detections, or the error that stopped them."""
    document: dict[str, Any] = {"source": source}
    if result is not None and model is not None:
        document.update(detection_document(result, model))
    if annotated is not None:
        document["annotated"] = {"bucket": annotated.bucket, "key": annotated.key}
    if error is not None:
        document["error"] = {"code": error.code, "message": error.message}
    return document
