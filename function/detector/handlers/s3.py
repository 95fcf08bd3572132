"""The S3 upload entry point: S3 notifications direct, through SQS, or from EventBridge,
and S3 Batch Operations tasks (``detector backfill``).

Through SQS each message is one record of a partial batch (Powertools' batch utility): a
record that fails is reported in ``batchItemFailures`` and retried alone. Direct and
EventBridge invocations process every upload, then fail the invocation if any upload
failed for a reason worth a retry (results are idempotent, so a retry redoes no harm).
Every upload, and every failure, logs exactly one structured line saying what became of it.
Batch Operations gets one result per task (detector.service.batch_operations).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from detector import observability, snapstart
from detector.aws import AwsClients
from detector.errors import BadRequestError, DetectorError
from detector.model.store import ModelHolder
from detector.observability import MeasuredModel
from detector.service import batch_operations
from detector.service.request import DetectRequest
from detector.service.uploads import (
    Outcome,
    Upload,
    UploadReport,
    check_configuration,
    process_upload,
    uploads_in_eventbridge,
    uploads_in_notification,
    uploads_in_sqs_body,
)
from detector.settings import Settings

# Built once per cold start. The same lines open handlers/api.py: on purpose, each handler module
# stands alone as Powertools' handler modules do.
settings = Settings.from_env()
clients = AwsClients()
logger, tracer, metrics = observability.powertools(settings)
model = MeasuredModel(ModelHolder(settings, clients=clients), tracer, metrics)
processor = BatchProcessor(event_type=EventType.SQS)
if settings.snap_start:
    snapstart.register(model, clients)


# One line per upload, at the level its outcome deserves.
OUTCOME_LOGS: dict[Outcome, tuple[Callable[..., None], str]] = {
    Outcome.DETECTED: (logger.info, "upload processed"),
    Outcome.SKIPPED: (logger.info, "upload skipped: not ours to process"),
    Outcome.FAILED: (logger.warning, "upload failed: a result file with the error was written"),
    Outcome.ABANDONED: (
        logger.error,
        "upload failed for good and S3 refuses its result file: nothing written, no retry",
    ),
    Outcome.REFUSED: (logger.warning, "upload refused: its bucket is not one this function serves"),
}


def process(upload: Upload) -> UploadReport:
    """An upload of a notification: what fails here is retried, and logged as such."""
    try:
        return run_upload(upload)
    except DetectorError as error:
        logger.error(
            "upload failed; it will be retried",
            extra={"outcome": "retry", "code": error.code, "reason": error.message},
        )
        raise
    except Exception:
        logger.exception(
            "upload failed unexpectedly; it will be retried", extra={"outcome": "retry"}
        )
        raise


def process_task(upload: Upload, request: DetectRequest) -> UploadReport:
    """A Batch Operations task names its object on purpose: any key, the job's options.

    What fails here becomes the task's result; batch_operations logs it with its code.
    """
    return run_upload(upload, request=request, any_prefix=True)


def run_upload(
    upload: Upload, *, request: DetectRequest | None = None, any_prefix: bool = False
) -> UploadReport:
    """process_upload, the object named on every log line and one line for its outcome."""
    location = upload.location
    logger.append_keys(bucket=location.bucket, key=location.key, version_id=location.version_id)
    report = process_upload(
        upload, model, clients.s3, settings, request=request, any_prefix=any_prefix
    )
    log, message = OUTCOME_LOGS[report.outcome]
    log(
        message,
        extra={
            "outcome": report.outcome.value,
            "reason": report.reason,
            "detections": report.detections,
            "result_key": report.result.key if report.result else None,
        },
    )
    return report


def process_sqs_record(record: SQSRecord) -> list[UploadReport]:
    try:
        uploads = uploads_in_sqs_body(record.body)
    except DetectorError as error:
        # Kept for a human: retried until the dead-letter queue holds it.
        logger.error(
            "SQS message refused; it will be retried",
            extra={"outcome": "retry", "code": error.code, "reason": error.message},
        )
        raise
    return [process(upload) for upload in uploads]


def process_all(uploads: list[Upload]) -> dict[str, Any]:
    """Every upload gets its turn; the first failure (logged by process) is raised at the end."""
    reports, failures = [], []
    for upload in uploads:
        try:
            reports.append(process(upload))
        except Exception as error:
            failures.append(error)
    if failures:
        raise failures[0]
    return {"processed": [report.outcome.value for report in reports]}


def event_source(event: Any) -> str:
    """``aws:s3`` (a notification), ``aws:sqs`` or ``aws.s3`` (EventBridge); else a 400."""
    event = event if isinstance(event, Mapping) else {}
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], Mapping):
        source = records[0].get("eventSource")
    else:
        source = event.get("source")
    if source not in ("aws:s3", "aws:sqs", "aws.s3"):
        raise BadRequestError("not an S3 notification, SQS batch or EventBridge S3 event")
    return str(source)


def uploads_in_event(event: Mapping[str, Any], source: str) -> list[Upload]:
    return uploads_in_eventbridge(event) if source == "aws.s3" else uploads_in_notification(event)


def handle(event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    metrics.clear_metrics()  # leftovers of an invocation that recorded none (see api.py)
    try:
        check_configuration(settings)
        if batch_operations.is_batch_operations_event(event):
            metrics.add_dimension(name="route", value="s3-batch-operations")
            return batch_operations.answer(event, process_task, settings)
        metrics.add_dimension(name="route", value="s3-upload")
        source = event_source(event)
        # SQS messages are parsed one by one, as records of the batch
        uploads = [] if source == "aws:sqs" else uploads_in_event(event, source)
    except DetectorError as error:
        logger.error(
            "invocation refused",
            extra={"outcome": "retry", "code": error.code, "reason": error.message},
        )
        raise
    if source == "aws:sqs":
        return process_partial_response(
            event=event, record_handler=process_sqs_record, processor=processor, context=context
        )
    return process_all(uploads)


@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    return handle(event, context)
