"""The S3 upload entry point: S3 notifications direct, through SQS, or from EventBridge,
and S3 Batch Operations tasks (``detector backfill``).

Through SQS each message is one record of a partial batch: a record that fails is reported
in ``batchItemFailures`` and retried alone; when every one fails, the invocation fails.
Direct and EventBridge invocations process every upload, then fail the invocation if any
upload failed for a reason worth a retry (results are idempotent, so a retry redoes no harm).
Every upload, and every failure, logs exactly one structured line saying what became of it.
Batch Operations gets one result per task (detector.service.batch_operations).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from aws_lambda_powertools.utilities.typing import LambdaContext

from detector import observability, snapstart, startup
from detector.aws import AwsClients
from detector.errors import BadRequestError, DetectorError
from detector.model.store import ModelHolder
from detector.observability import MeasuredModel
from detector.service import batch_operations
from detector.service.request import DetectRequest
from detector.service.uploads import (
    Outcome,
    SqsMessage,
    Upload,
    UploadReport,
    check_configuration,
    process_upload,
    sqs_messages,
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


def process_sqs_message(message: SqsMessage) -> list[UploadReport]:
    try:
        uploads = uploads_in_sqs_body(message.body)
    except DetectorError as error:
        # Kept for a human: retried until the dead-letter queue holds it.
        logger.error(
            "SQS message refused; it will be retried",
            extra={"outcome": "retry", "code": error.code, "reason": error.message},
        )
        raise
    return [process(upload) for upload in uploads]


Item = TypeVar("Item")
Done = TypeVar("Done")


def each(
    work: Callable[[Item], Done], items: Sequence[Item]
) -> tuple[list[Done], list[tuple[Item, Exception]]]:
    """Every item gets its turn, whatever an earlier one raised (``work`` logs its failures):
    what succeeded, and the items that failed with their errors."""
    done, failures = [], []
    for item in items:
        try:
            done.append(work(item))
        except Exception as error:
            failures.append((item, error))
    return done, failures


def process_all(uploads: list[Upload]) -> dict[str, Any]:
    """Every upload gets its turn; the first failure is raised at the end."""
    reports, failures = each(process, uploads)
    if failures:
        raise failures[0][1]
    return {"processed": [report.outcome.value for report in reports]}


def process_sqs_batch(messages: list[SqsMessage]) -> dict[str, Any]:
    """SQS's partial batch response: only the messages that failed are delivered again. When
    every one failed the invocation fails with the first error, so that it counts as one."""
    _, failures = each(process_sqs_message, messages)
    if failures and len(failures) == len(messages):
        raise failures[0][1]
    return {"batchItemFailures": [{"itemIdentifier": item.message_id} for item, _ in failures]}


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


def handle(event: dict[str, Any]) -> Mapping[str, Any]:
    metrics.clear_metrics()  # leftovers of an invocation that recorded none (see api.py)
    try:
        check_configuration(settings)
        if batch_operations.is_batch_operations_event(event):
            metrics.add_dimension(name="route", value="s3-batch-operations")
            return batch_operations.answer(event, process_task, settings)
        metrics.add_dimension(name="route", value="s3-upload")
        source = event_source(event)
        # An SQS message's body is parsed in its turn: a bad one fails alone.
        batch = sqs_messages(event) if source == "aws:sqs" else None
        uploads = [] if batch is not None else uploads_in_event(event, source)
    except DetectorError as error:
        logger.error(
            "invocation refused",
            extra={"outcome": "retry", "code": error.code, "reason": error.message},
        )
        raise
    if batch is not None:
        return process_sqs_batch(batch)
    return process_all(uploads)


@startup.resumes_after_the_first_call
@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    return handle(event)
