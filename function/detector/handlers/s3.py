"""The S3 upload entry point: S3 notifications direct, through SQS, or from EventBridge,
and S3 Batch Operations tasks (``detector backfill``).

Through SQS each message is one record of a partial batch (Powertools' batch utility): a
record that fails is reported in ``batchItemFailures`` and retried alone. Direct and
EventBridge invocations process every upload, then fail the invocation if any upload
failed for a reason worth a retry (results are idempotent, so a retry redoes no harm).
Batch Operations gets one result per task (detector.service.batch_operations).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from detector import observability
from detector.aws import AwsClients
from detector.errors import BadRequestError
from detector.observability import MeasuredModel
from detector.service import batch_operations
from detector.service.request import DetectRequest
from detector.service.uploads import (
    Upload,
    UploadReport,
    check_layout,
    process_upload,
    uploads_in_eventbridge,
    uploads_in_notification,
    uploads_in_sqs_body,
)
from detector.settings import Settings

settings = Settings.from_env()
logger, tracer, metrics = observability.powertools(settings)
clients = AwsClients()
model = MeasuredModel(settings, clients, tracer, metrics)
processor = BatchProcessor(event_type=EventType.SQS)


def process(
    upload: Upload, *, request: DetectRequest | None = None, any_prefix: bool = False
) -> UploadReport:
    location = upload.location
    logger.append_keys(bucket=location.bucket, key=location.key, version_id=location.version_id)
    report = process_upload(
        upload, model, clients.s3, settings, request=request, any_prefix=any_prefix
    )
    logger.info(
        "upload processed",
        extra={
            "outcome": report.outcome.value,
            "reason": report.reason,
            "detections": report.detections,
            "result_key": report.result.key if report.result else None,
        },
    )
    return report


def process_task(upload: Upload, request: DetectRequest) -> UploadReport:
    """A Batch Operations task names its object on purpose: any key, the job's options."""
    return process(upload, request=request, any_prefix=True)


def process_sqs_record(record: SQSRecord) -> list[UploadReport]:
    return [process(upload) for upload in uploads_in_sqs_body(record.body)]


def process_all(uploads: list[Upload]) -> dict[str, Any]:
    """Every upload gets its turn; the first real failure is raised at the end."""
    reports, failures = [], []
    for upload in uploads:
        try:
            reports.append(process(upload))
        except Exception as error:
            logger.exception("upload failed; the invocation will be retried")
            failures.append(error)
    if failures:
        raise failures[0]
    return {"processed": [report.outcome.value for report in reports]}


def event_source(event: Mapping[str, Any]) -> str:
    """``aws:s3`` (a notification), ``aws:sqs`` or ``aws.s3`` (EventBridge); else a 400."""
    records = event.get("Records")
    source = records[0].get("eventSource") if records else event.get("source")
    if source not in ("aws:s3", "aws:sqs", "aws.s3"):
        raise BadRequestError("not an S3 notification, SQS batch or EventBridge S3 event")
    return str(source)


def handle(event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    check_layout(settings)
    metrics.clear_metrics()  # leftovers of an invocation that recorded none (see api.py)
    if batch_operations.is_batch_operations_event(event):
        metrics.add_dimension(name="route", value="s3-batch-operations")
        return batch_operations.answer(event, process_task, settings)
    metrics.add_dimension(name="route", value="s3-upload")
    source = event_source(event)
    if source == "aws:sqs":
        return process_partial_response(
            event=event, record_handler=process_sqs_record, processor=processor, context=context
        )
    if source == "aws.s3":
        return process_all(uploads_in_eventbridge(event))
    return process_all(uploads_in_notification(event))


@logger.inject_lambda_context(log_event=False, clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Mapping[str, Any]:
    return handle(event, context)
