"""Detection on images uploaded to S3: which objects to process, and the result files.

Event records in, ``Upload`` values out: S3 notifications (direct, or as the body of an SQS
message) and EventBridge "Object Created" events. Keys arrive URL-encoded ("red flower.jpg"
is "red+flower.jpg", "+" is "%2B"); they are decoded here and nowhere else. Only uploads to
the buckets in ``INPUT_BUCKETS`` are processed; an event naming another bucket is refused.

For ``uploads/a.jpg`` in bucket ``photos`` the result is ``detections/uploads/a.jpg.json``
(and with annotation on, ``annotated/uploads/a.jpg.jpg``) beside the upload, in ``photos``;
with a results bucket set, ``detections/photos/uploads/a.jpg.json`` there: several buckets'
uploads share it and their keys may be equal, so the path starts with the source bucket
(bucket names hold no "/", so no two sources share a path). The result path depends only
on bucket and key and the file records the version it describes, so a redelivered event
rewrites the same file: processing is idempotent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol
from urllib.parse import unquote_plus

from detector import aws
from detector.aws import S3Client, S3Location
from detector.errors import (
    BadRequestError,
    ConfigurationError,
    DetectorError,
    PayloadTooLargeError,
    StorageArchivedError,
    StorageError,
    StorageNotFoundError,
    StorageRefusedError,
    UnsupportedMediaTypeError,
)
from detector.media import JPEG_MEDIA_TYPE, JSON_MEDIA_TYPE
from detector.model.store import LoadedModel
from detector.pipeline.engine import DetectionResult, DetectOptions
from detector.service.documents import (
    class_names,
    source_document,
    upload_result_document,
)
from detector.service.request import DetectRequest
from detector.settings import INPUT_BUCKETS, Settings


class UploadModel(Protocol):
    """The model as the upload flow uses it: loaded once, then run on each upload. The
    handlers pass ``observability.MeasuredModel``, which adds metrics and trace segments."""

    def get(self) -> LoadedModel: ...

    def detect(
        self, model: LoadedModel, image: bytes, options: DetectOptions
    ) -> DetectionResult: ...


MAX_RESULT_BYTES = 16 * 1024 * 1024  # a result with 10,000 detections is about 1.5 MB
# Decoding the upload failed for good: it gets a result file that says why, and no retry.
# So does reading it, for every storage error that is not transient (aws.is_transient):
# deleted again before we got to it, archived, unreadable with our role or KMS key, ...
UPLOAD_ERRORS: tuple[type[DetectorError], ...] = (
    BadRequestError,  # includes InvalidImageError: not an image, or an unsupported one
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)


@dataclass(frozen=True)
class Upload:
    """One created object, its key decoded."""

    location: S3Location
    etag: str | None = None
    sequencer: str | None = None  # S3's order of events on one key: hex, larger is later


class Outcome(Enum):
    DETECTED = "detected"
    FAILED = "failed"  # a result file with the error was written; not retried
    # Failed for good, and S3 refuses even the result file (its key would be over S3's
    # limit): nothing is written, nothing retried; the log line is all that is left.
    ABANDONED = "abandoned"
    SKIPPED = "skipped"  # not ours to process: outside the uploads prefix, or our own output
    REFUSED = "refused"  # a bucket outside INPUT_BUCKETS: not processed, not retried


@dataclass(frozen=True)
class UploadReport:
    upload: Upload
    outcome: Outcome
    detections: int = 0
    result: S3Location | None = None
    reason: str | None = None


# --- events -> uploads -----------------------------------------------------------------------
def uploads_in_notification(notification: Mapping[str, Any]) -> list[Upload]:
    """The created objects of an S3 notification (``{"Records": [...]}``).

    S3's ``s3:TestEvent`` (sent when a notification is configured) has no records.
    """
    uploads = []
    for record in notification.get("Records") or []:
        if not isinstance(record, Mapping) or record.get("eventSource") != "aws:s3":
            raise BadRequestError("not an S3 notification record")
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        uploads.append(_upload(record, "s3", "versionId", "eTag"))
    return uploads


def uploads_in_eventbridge(event: Mapping[str, Any]) -> list[Upload]:
    """The created object of an EventBridge ``aws.s3`` "Object Created" event."""
    if event.get("source") != "aws.s3" or event.get("detail-type") != "Object Created":
        return []
    return [_upload(event, "detail", "version-id", "etag")]


@dataclass(frozen=True)
class SqsMessage:
    """One message of an SQS batch: its id names it in ``batchItemFailures``."""

    message_id: str
    body: str


def sqs_messages(event: Mapping[str, Any]) -> list[SqsMessage]:
    """The messages of an SQS batch; BadRequestError when one has no id to report it by or
    no body to read (SQS sends neither: the invocation is refused as a whole)."""
    records = event.get("Records")
    messages = []
    for record in records if isinstance(records, list) else []:
        fields = record if isinstance(record, Mapping) else {}
        message_id, body = fields.get("messageId"), fields.get("body")
        if not isinstance(message_id, str) or not message_id or not isinstance(body, str):
            raise BadRequestError("an SQS record without a messageId and a body")
        messages.append(SqsMessage(message_id, body))
    return messages


def uploads_in_sqs_body(body: str) -> list[Upload]:
    """S3 notifications delivered through SQS carry the notification as the message body."""
    try:
        notification = json.loads(body)
    except json.JSONDecodeError:
        raise BadRequestError("the SQS message body is not JSON") from None
    if not isinstance(notification, dict):
        raise BadRequestError("the SQS message body is not an S3 notification")
    return uploads_in_notification(notification)


def _upload(
    record: Mapping[str, Any], body_field: str, version_field: str, etag_field: str
) -> Upload:
    """S3 notifications and EventBridge name their fields differently; both are checked."""
    try:
        body = record[body_field]
        bucket, obj = body["bucket"]["name"], body["object"]
        key = unquote_plus(obj["key"])
        version, etag, sequencer = (
            obj.get(name) for name in (version_field, etag_field, "sequencer")
        )
    except (KeyError, TypeError, AttributeError):
        raise BadRequestError("an S3 event record without a bucket name and object key") from None
    optional = (version, etag, sequencer)
    if not isinstance(bucket, str) or not all(isinstance(v, str | None) for v in optional):
        raise BadRequestError("an S3 event record whose fields are not strings")
    return Upload(S3Location(bucket, key, version or None), etag or None, sequencer or None)


# --- where results go -------------------------------------------------------------------------
def check_configuration(settings: Settings) -> None:
    """Refuse settings the upload function cannot run with: no bucket to serve, or a layout
    whose outputs could count as uploads."""
    if not settings.input_buckets:
        raise ConfigurationError(
            f"the upload function processes uploads to the buckets in {INPUT_BUCKETS}: none is set"
        )
    check_layout(settings)


def check_layout(settings: Settings, source_bucket: str | None = None) -> None:
    """Refuse prefixes with which our outputs could count as uploads (a trigger loop).

    Overlap only matters where results land in the uploads' own bucket: no results bucket,
    or one that is ``source_bucket``.
    """
    same_bucket = settings.results_bucket in (None, source_bucket)
    outputs = {"results": settings.results_prefix, "annotated": settings.annotated_prefix}
    for name, prefix in outputs.items():
        if not prefix:
            raise ConfigurationError(f"the {name} prefix must not be empty")
        overlapping = prefix.startswith(settings.uploads_prefix) or (
            settings.uploads_prefix.startswith(prefix)
        )
        if overlapping and same_bucket:
            raise ConfigurationError(
                f"the {name} prefix {prefix!r} overlaps the uploads prefix "
                f"{settings.uploads_prefix!r} in the same bucket"
            )


def skip_reason(upload: Upload, settings: Settings, *, any_prefix: bool = False) -> str | None:
    """Why this object is not ours to process, or None.

    ``any_prefix``: the object was named on purpose (an S3 Batch Operations task), so it
    need not be under the uploads prefix.
    """
    key = upload.location.key
    if key.startswith((settings.results_prefix, settings.annotated_prefix)):
        return "one of our own outputs"
    if not any_prefix and not key.startswith(settings.uploads_prefix):
        return "outside the uploads prefix"
    if key.endswith("/"):
        return "a folder marker"
    return None


def result_location(upload: Upload, settings: Settings) -> S3Location:
    return _output_location(upload, settings, settings.results_prefix, ".json")


def annotated_location(upload: Upload, settings: Settings) -> S3Location:
    return _output_location(upload, settings, settings.annotated_prefix, ".jpg")


def _output_location(upload: Upload, settings: Settings, prefix: str, suffix: str) -> S3Location:
    """Beside the upload; or in the results bucket, under the name of the upload's bucket."""
    source = upload.location
    if settings.results_bucket is None:
        return S3Location(source.bucket, f"{prefix}{source.key}{suffix}")
    return S3Location(settings.results_bucket, f"{prefix}{source.bucket}/{source.key}{suffix}")


# --- processing -------------------------------------------------------------------------------
def process_upload(
    upload: Upload,
    model: UploadModel,
    s3: S3Client,
    settings: Settings,
    *,
    request: DetectRequest | None = None,
    any_prefix: bool = False,
) -> UploadReport:
    """Detect on one upload and write its result file.

    Problems of the upload itself (not a usable image, gone, archived, unreadable) end in a
    result file with the error; when S3 refuses even that file (its key is over S3's limit),
    the report says so. Neither is retried. Anything else raises, so that the event is
    retried: transient failures (S3 throttling or down) and our own (model unavailable,
    results not writable with our role).

    ``request``: options of the caller's own (S3 Batch Operations' ``userArguments``; an
    unknown class is a BadRequestError), else the settings' defaults. ``any_prefix``: see
    :func:`skip_reason`.
    """
    if upload.location.bucket not in settings.input_buckets:
        return UploadReport(upload, Outcome.REFUSED, reason=f"the bucket is not in {INPUT_BUCKETS}")
    check_layout(settings, upload.location.bucket)
    reason = skip_reason(upload, settings, any_prefix=any_prefix)
    if reason:
        return UploadReport(upload, Outcome.SKIPPED, reason=reason)
    target = result_location(upload, settings)
    try:
        return _process(upload, target, model, s3, settings, request=request)
    except StorageRefusedError as error:
        # Only our outputs get here (the upload's own refusals end in _failed): no retry
        # can write them.
        return UploadReport(upload, Outcome.ABANDONED, reason=error.message)


def _process(
    upload: Upload,
    target: S3Location,
    model: UploadModel,
    s3: S3Client,
    settings: Settings,
    *,
    request: DetectRequest | None,
) -> UploadReport:
    if _later_result_exists(s3, target, upload):
        return UploadReport(upload, Outcome.SKIPPED, reason="a later upload's result is there")
    loaded = model.get()
    options = (request or DetectRequest()).options(class_names(loaded), settings)
    wants_annotated = settings.annotate if request is None else request.annotate
    source = source_document(upload.location, etag=upload.etag, sequencer=upload.sequencer)
    try:
        obj = aws.get_object(s3, upload.location, max_bytes=settings.max_image_bytes)
        source = source_document(upload.location, info=obj.info, sequencer=upload.sequencer)
        result = model.detect(loaded, obj.body, options)
    except DetectorError as error:
        if not _fault_of_the_upload(error):
            raise
        return _failed(s3, upload, target, source, error)
    try:
        annotated = (
            _write_annotated(
                s3, upload, image=obj.body, result=result, model=loaded, settings=settings
            )
            if wants_annotated
            else None
        )
    except StorageRefusedError as error:  # the drawing's key is over S3's limit
        return _failed(s3, upload, target, source, error)
    document = upload_result_document(source, result=result, model=loaded, annotated=annotated)
    _write_json(s3, target, document)
    return UploadReport(upload, Outcome.DETECTED, detections=len(result.detections), result=target)


def _fault_of_the_upload(error: DetectorError) -> bool:
    """Reading or decoding the upload failed, and no retry can do better."""
    if isinstance(error, StorageError):
        return not aws.is_transient(error)
    return isinstance(error, UPLOAD_ERRORS)


def _later_result_exists(s3: S3Client, target: S3Location, upload: Upload) -> bool:
    """True when the result file describes a later event on this key (out-of-order delivery).

    Equal sequencers are a redelivery of the same event: that result is rewritten.
    """
    if upload.sequencer is None:
        return False
    try:
        existing = aws.get_object(s3, target, max_bytes=MAX_RESULT_BYTES)
        theirs = json.loads(existing.body)["source"]["sequencer"]
        return _sequence(theirs) > _sequence(upload.sequencer)
    except (
        StorageNotFoundError,
        StorageArchivedError,  # moved to an archive tier: unreadable, but a new one may replace it
        PayloadTooLargeError,
        ValueError,
        KeyError,
        TypeError,
    ):
        return False  # no result yet, or not one of ours (or unordered): ours replaces it


def _sequence(sequencer: str) -> int:
    # S3 compares sequencers as hex strings left-padded to equal length: numerically.
    return int(sequencer, 16)


def _failed(
    s3: S3Client, upload: Upload, target: S3Location, source: dict[str, Any], error: DetectorError
) -> UploadReport:
    _write_json(s3, target, upload_result_document(source, error=error))
    return UploadReport(upload, Outcome.FAILED, result=target, reason=error.code)


def _write_annotated(
    s3: S3Client,
    upload: Upload,
    *,
    image: bytes,
    result: DetectionResult,
    model: LoadedModel,
    settings: Settings,
) -> S3Location:
    # Imported here: most uploads are not drawn (ANNOTATE off, the default).
    from detector.pipeline import annotate  # noqa: PLC0415

    target = annotated_location(upload, settings)
    jpeg = annotate.draw(
        image,
        result,
        model.detector.info.class_names,
        max_side=settings.annotated_max_side,
        limits=settings.image_limits,
    )
    aws.put_object(s3, target, jpeg, content_type=JPEG_MEDIA_TYPE)
    return target


def _write_json(s3: S3Client, target: S3Location, document: Mapping[str, Any]) -> None:
    body = json.dumps(document, indent=2, ensure_ascii=False).encode()
    aws.put_object(s3, target, body, content_type=JSON_MEDIA_TYPE)
