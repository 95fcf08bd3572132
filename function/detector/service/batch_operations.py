"""S3 Batch Operations as a source of uploads: its events in, its documented answer out.

A Batch Operations job (``detector backfill``) invokes the upload function once per object
of its manifest with ``{"invocationSchemaVersion", "invocationId", "job", "tasks"}``. Schema
1.0 names the bucket by ARN (``s3BucketArn``); 2.0 by name (``s3Bucket``) and adds
``job.userArguments``, which here carry detection options (``conf``, ``classes``,
``annotate``...), checked as ``/detect`` checks them. Keys arrive URL-encoded.

Each task's object goes through the upload flow (same result documents, same paths, any key)
and gets one result in the answer:

* ``Succeeded``: its result document was written (``resultString``: the document's
  ``s3://`` URI), or it is one of our own outputs or a folder marker ("skipped: ...");
* ``PermanentFailure``: a retry cannot help. No such object, not a usable image (both with
  an error result document, named in ``resultString``), a bucket the function does not
  serve, options the job got wrong;
* ``TemporaryFailure``: a retry may succeed (S3 throttled or failing, the model not loaded
  yet); Batch Operations retries the task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal
from urllib.parse import quote, unquote_plus

from aws_lambda_powertools import Logger

from detector import aws
from detector.aws import S3Location
from detector.errors import (
    BadRequestError,
    DetectorError,
    ModelUnavailableError,
    StorageError,
)
from detector.service.request import DetectRequest, parse_options
from detector.service.uploads import Outcome, Upload, UploadReport
from detector.settings import Settings

ResultCode = Literal["Succeeded", "TemporaryFailure", "PermanentFailure"]
Task = Mapping[str, Any]  # {"taskId", "s3Key", "s3VersionId", "s3BucketArn" or "s3Bucket"}
TaskResult = dict[str, str]  # {"taskId", "resultCode", "resultString"}

SCHEMA_VERSIONS = frozenset({"1.0", "2.0"})
# Our answer names every task; one it did not name would be a bug of ours, which a retry
# would only repeat, so the report should show it (the documented default is "Succeeded").
TREAT_MISSING_KEYS_AS: ResultCode = "PermanentFailure"
MAX_RESULT_STRING = 512  # the completion report's ResultMessage: enough for a key and a reason

logger = Logger(child=True)  # the handler's Powertools Logger formats and filters it

ProcessTask = Callable[[Upload, DetectRequest], UploadReport]


def encode_key(key: str) -> str:
    """A key as Batch Operations manifests (and so its events) spell it: URL-encoded.

    Everything but unreserved characters and "/" is percent-encoded as UTF-8, so a CSV
    manifest row holds no comma, quote or line break; the handler decodes it back.
    """
    return quote(key, safe="/")


def is_batch_operations_event(event: Any) -> bool:
    """Whether ``event`` (any JSON value Lambda was given) is an S3 Batch Operations event."""
    return isinstance(event, Mapping) and "invocationSchemaVersion" in event and "tasks" in event


def answer(event: dict[str, Any], process: ProcessTask, settings: Settings) -> dict[str, Any]:
    """Run each task's object through ``process``; the response Batch Operations expects.

    A malformed event raises BadRequestError (the invocation fails, as for any event that
    is not one); everything that happens to one task is in that task's result.
    """
    version = event.get("invocationSchemaVersion")
    if version not in SCHEMA_VERSIONS or not isinstance(event.get("invocationId"), str):
        raise BadRequestError(
            f"not an S3 Batch Operations event of schema {' or '.join(sorted(SCHEMA_VERSIONS))}"
        )
    tasks = event.get("tasks")
    if not isinstance(tasks, list) or not tasks or not all(isinstance(t, dict) for t in tasks):
        raise BadRequestError("the S3 Batch Operations event has no tasks, or malformed ones")
    try:
        options = _job_options(event, settings)
    except BadRequestError as error:
        # The job's fault, not the objects': every task fails the same way, nothing is written.
        results = [_failed(task, error) for task in tasks]
    else:
        results = [_run(task, options, process) for task in tasks]
    return {
        "invocationSchemaVersion": version,
        "treatMissingKeysAs": TREAT_MISSING_KEYS_AS,
        "invocationId": event["invocationId"],
        "results": results,
    }


def task_upload(task: Task) -> Upload:
    """The task's object, its key decoded; BadRequestError when the task is malformed."""
    try:
        arn, bucket, key = task.get("s3BucketArn"), task.get("s3Bucket"), task["s3Key"]
    except (KeyError, TypeError):
        raise BadRequestError("an S3 Batch Operations task without s3Key") from None
    if isinstance(arn, str) and arn:
        # "arn:aws:s3:::bucket"; bucket names hold no colon.
        bucket = arn.rsplit(":", 1)[-1]
    version = task.get("s3VersionId")
    if not isinstance(bucket, str) or not bucket or not isinstance(key, str) or not key:
        raise BadRequestError("an S3 Batch Operations task needs a bucket and a key")
    if version is not None and not isinstance(version, str):
        raise BadRequestError("an S3 Batch Operations task's s3VersionId must be a string")
    return Upload(S3Location(bucket, unquote_plus(key), version or None))


def _job_options(event: Mapping[str, Any], settings: Settings) -> DetectRequest:
    """The job's detection options (schema 1.0 has none); BadRequestError when wrong.

    ``annotate`` left out of the arguments means the function's own setting.
    """
    job = event.get("job")
    arguments = (job.get("userArguments") if isinstance(job, dict) else None) or {}
    if not isinstance(arguments, Mapping):
        raise BadRequestError("job.userArguments must be an object")
    request = parse_options(arguments)
    if "annotate" not in arguments:
        request = replace(request, annotate=settings.annotate)
    return request


def _run(task: Task, options: DetectRequest, process: ProcessTask) -> TaskResult:
    try:
        report = process(task_upload(task), options)
    except DetectorError as error:
        return _failed(task, error)
    except Exception:
        # A bug of ours: the trace goes to the log; the report says where to look.
        logger.exception("batch operations task failed unexpectedly", extra={"task_id": _id(task)})
        return _result(_id(task), "PermanentFailure", "internal_error: see the function's log")
    return _report_result(_id(task), report)


def _failed(task: Task, error: DetectorError) -> TaskResult:
    code = _result_code(error)
    logger.warning(
        "batch operations task failed",
        extra={"task_id": _id(task), "result_code": code, "error": error.code},
    )
    return _result(_id(task), code, f"{error.code}: {error.message}")


def _result_code(error: DetectorError) -> ResultCode:
    """Temporary only when a retry may succeed.

    S3's verdict is detector.aws's; a model that did not load (its key, S3, memory) is
    loaded anew by the next invocation.
    """
    transient = isinstance(error, ModelUnavailableError) or (
        isinstance(error, StorageError) and aws.is_transient(error)
    )
    return "TemporaryFailure" if transient else "PermanentFailure"


def _id(task: Task) -> str:
    return str(task.get("taskId", ""))


def _report_result(task_id: str, report: UploadReport) -> TaskResult:
    if report.outcome is Outcome.DETECTED:
        return _result(task_id, "Succeeded", str(report.result))
    if report.outcome is Outcome.SKIPPED:
        return _result(task_id, "Succeeded", f"skipped: {report.reason}")
    if report.outcome is Outcome.FAILED:
        # The object itself is at fault (missing, not an image): retrying gives the same.
        return _result(
            task_id, "PermanentFailure", f"{report.reason}: error document {report.result}"
        )
    # REFUSED (a bucket outside INPUT_BUCKETS), ABANDONED (S3 refuses even the error
    # document: its key would be too long): nothing was written, and never will be.
    return _result(task_id, "PermanentFailure", f"{report.outcome.value}: {report.reason}")


def _result(task_id: str, code: ResultCode, text: str) -> TaskResult:
    if len(text) > MAX_RESULT_STRING:
        text = text[: MAX_RESULT_STRING - 1] + "…"
    return {"taskId": task_id, "resultCode": code, "resultString": text}
