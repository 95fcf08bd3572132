"""``detector backfill``: detection over images already in S3, as an S3 Batch Operations job.

    detector backfill s3://BUCKET/PREFIX/ --function ARN --role ARN [--option conf=0.4 ...]
    detector backfill --manifest s3://BUCKET/.../manifest.json --function ARN --role ARN
    detector backfill status JOB_ID
    detector backfill --local s3://BUCKET/PREFIX/ [--option conf=0.4 ...]

A job reads its objects from a CSV manifest that this command writes from a listing (one
``bucket,key`` row each, keys URL-encoded) or from an S3 Inventory report, invokes the
upload function once per object (``LambdaInvoke``, invocation schema 2.0, the options as
``userArguments``), retries the tasks that failed for a passing reason and writes a
completion report. ``--local`` runs the same handler in this process over the same
listing, against ``AWS_ENDPOINT_URL`` when it is set.

Where a job keeps its files (``--report``, default ``s3://BUCKET/backfill/``): the CSV
manifest under ``manifests/``, the completion report under ``reports/job-<id>/``.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO
from urllib.parse import urlsplit

from detector.errors import DetectorError
from detector.media import IMAGE_SUFFIXES

if TYPE_CHECKING:
    from detector.aws import S3Client, S3Location

DEFAULT_JOB_PREFIX = "backfill/"
MANIFEST_FORMAT = "S3BatchOperations_CSV_20180820"
INVENTORY_FORMAT = "S3InventoryReport_CSV_20161130"
REPORT_FORMAT = "Report_CSV_20180820"
INVOCATION_SCHEMA = "2.0"  # the one that carries userArguments
JOB_PRIORITY = 10
MAX_USER_ARGUMENTS = 10  # S3 Control's limit on LambdaInvoke UserArguments entries
EXIT_OK = 0
EXIT_SOME_FAILED = 1  # the job ran (--local), but some objects failed


class BackfillError(DetectorError):
    """The backfill cannot start: a wrong argument, nothing to process, a refused job."""

    code = "backfill_failed"


# --- the command line ---------------------------------------------------------------------
def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "backfill",
        help="run detection over images already in S3 (an S3 Batch Operations job)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "source",
        nargs="?",
        metavar="s3://BUCKET/PREFIX/ | status",
        help="the objects to process (every image under the prefix), or `status`",
    )
    parser.add_argument("job_id", nargs="?", metavar="JOB_ID", help="with `status`: the job")
    parser.add_argument("--function", metavar="ARN", help="the upload function (or its alias)")
    parser.add_argument("--role", metavar="ARN", help="the role Batch Operations assumes")
    parser.add_argument(
        "--report",
        metavar="s3://BUCKET/PREFIX/",
        help="where the job keeps its manifest and completion report "
        f"(default: s3://BUCKET/{DEFAULT_JOB_PREFIX} of the objects or the manifest)",
    )
    parser.add_argument(
        "--manifest",
        metavar="s3://.../manifest.json",
        help="an S3 Inventory report (CSV) instead of listing the prefix",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a detection option for every object, as /detect takes it: conf, iou, max_det, "
        "classes, agnostic, annotate (repeatable)",
    )
    parser.add_argument(
        "--all", action="store_true", help=f"every object, not only {', '.join(IMAGE_SUFFIXES)}"
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="run the upload handler in this process instead of creating a job",
    )
    parser.add_argument(
        "--function-log",
        type=Path,
        metavar="FILE",
        help="with --local: keep the function's own log lines and metrics here",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """The exit code; raises BackfillError (and our other typed errors) when it cannot start."""
    options = parse_options(args.option)
    if args.source == "status":
        if not args.job_id:
            raise BackfillError("say which job: detector backfill status JOB_ID")
        print_status(job_status(args.job_id), sys.stdout)
        return EXIT_OK
    if args.job_id:
        raise BackfillError(f"unexpected argument {args.job_id!r}")
    if args.local:
        if args.manifest or not args.source:
            raise BackfillError("--local lists a prefix: detector backfill --local s3://BUCKET/")
        summary = run_local(
            args.source,
            options=options,
            everything=args.all,
            progress=sys.stderr,
            function_log=args.function_log,
        )
        print(summary.describe(), file=sys.stdout)
        return EXIT_SOME_FAILED if summary.failed else EXIT_OK
    if not args.function or not args.role:
        raise BackfillError("a job needs --function ARN and --role ARN (or use --local)")
    if bool(args.source) == bool(args.manifest):
        raise BackfillError("give either s3://BUCKET/PREFIX/ to list, or --manifest")
    started = start_job(
        source=args.source,
        inventory=args.manifest,
        function_arn=args.function,
        role_arn=args.role,
        report=args.report,
        options=options,
        everything=args.all,
    )
    print(started.describe(), file=sys.stdout)
    return EXIT_OK


def parse_options(items: Sequence[str]) -> dict[str, str]:
    """``["conf=0.4", "classes=dog,cat"]`` as userArguments, checked as /detect checks them.

    Class names too are checked by the function only: it alone knows the model's classes.
    """
    from detector.service.request import parse_options as check  # noqa: PLC0415 - keep --help fast
    from detector.settings import Settings  # noqa: PLC0415

    options: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name.strip():
            raise BackfillError(f"--option takes NAME=VALUE, not {item!r}")
        options[name.strip()] = value.strip()
    request = check(options)
    replace(request, classes=None).options((), Settings())  # the ranges of conf, iou, max_det
    if len(options) > MAX_USER_ARGUMENTS:
        raise BackfillError(f"S3 Batch Operations passes at most {MAX_USER_ARGUMENTS} options")
    return options


# --- what to process ------------------------------------------------------------------------
def parse_prefix(uri: str) -> tuple[str, str]:
    """``s3://bucket/prefix/`` as (bucket, prefix); the prefix may be empty."""
    parts = urlsplit(uri)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise BackfillError(f"not an S3 prefix (s3://bucket/prefix/): {uri!r}")
    return parts.netloc, parts.path.lstrip("/")


def list_objects(s3: S3Client, bucket: str, prefix: str, *, everything: bool) -> list[str]:
    """The keys under ``prefix`` a backfill processes: images (or ``everything``).

    Never folder markers, nor the function's own outputs (they would be skipped anyway).
    BackfillError when there is none.
    """
    from detector import aws  # noqa: PLC0415 - keep --help fast
    from detector.settings import Settings  # noqa: PLC0415

    settings = Settings.from_env()
    outputs = (settings.results_prefix, settings.annotated_prefix)
    keys = [
        key
        for key in aws.list_keys(s3, bucket, prefix)
        if not key.endswith("/")
        and not key.startswith(outputs)
        and (everything or key.lower().endswith(IMAGE_SUFFIXES))
    ]
    if not keys:
        kind = "objects" if everything else f"images ({', '.join(IMAGE_SUFFIXES)})"
        raise BackfillError(f"no {kind} under s3://{bucket}/{prefix}: nothing to do")
    return keys


def manifest_csv(bucket: str, keys: Iterable[str]) -> bytes:
    """A Batch Operations CSV manifest: ``bucket,key`` per line, keys URL-encoded.

    Encoded keys hold no comma, quote or line break, so no row needs CSV quoting.
    """
    from detector.service.batch_operations import encode_key  # noqa: PLC0415

    return "".join(f"{bucket},{encode_key(key)}\n" for key in keys).encode("ascii")


# --- the job ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Manifest:
    """Where a job's object list is, and in which of the two formats."""

    location: S3Location
    etag: str
    format: str  # MANIFEST_FORMAT (ours) or INVENTORY_FORMAT
    objects: int | None = None  # known for the manifests we write


@dataclass(frozen=True)
class JobClients:
    """The clients a job needs, in the region it runs in (that of the function)."""

    s3: S3Client
    s3control: Any
    sts: Any
    region: str

    @classmethod
    def for_function(cls, function_arn: str | None) -> JobClients:
        import boto3  # noqa: PLC0415 - keep --help fast

        from detector.aws import CLIENT_CONFIG  # noqa: PLC0415

        region = _arn_part(function_arn, 3) if function_arn else None
        session = boto3.session.Session(region_name=region or None)
        if not session.region_name:
            raise BackfillError("no AWS region: set AWS_REGION, or give --function as an ARN")
        return cls(
            s3=session.client("s3", config=CLIENT_CONFIG),
            s3control=session.client("s3control", config=CLIENT_CONFIG),
            sts=session.client("sts", config=CLIENT_CONFIG),
            region=session.region_name,
        )

    def account_id(self) -> str:
        account: str = _call(self.sts.get_caller_identity, "find your AWS account")["Account"]
        return account


@dataclass(frozen=True)
class StartedJob:
    job_id: str
    account_id: str
    region: str
    manifest: Manifest
    report: S3Location

    def describe(self) -> str:
        objects = (
            f"{self.manifest.objects} objects"
            if self.manifest.objects is not None
            else "the objects of the inventory report"
        )
        return "\n".join(
            [
                f"job {self.job_id} created: {objects} (manifest {self.manifest.location})",
                f"follow it:  detector backfill status {self.job_id}",
                f"            aws s3control describe-job --region {self.region} "
                f"--account-id {self.account_id} --job-id {self.job_id}",
                f"report:     {self.report}/job-{self.job_id}/ once it is complete",
            ]
        )


def start_job(
    *,
    source: str | None,
    inventory: str | None,
    function_arn: str,
    role_arn: str,
    report: str | None,
    options: Mapping[str, str],
    everything: bool = False,
    clients: JobClients | None = None,
) -> StartedJob:
    """Write the manifest (or read the inventory's), then create the job; which job."""
    clients = clients or JobClients.for_function(function_arn)
    if source is not None:
        bucket, prefix = parse_prefix(source)
        home = _job_home(report, bucket)
        manifest = write_manifest(clients.s3, bucket, prefix, home, everything=everything)
    else:
        location = _manifest_location(inventory or "")
        home = _job_home(report, location.bucket)
        manifest = inventory_manifest(clients.s3, location)
    account = clients.account_id()
    request = job_request(
        account_id=account,
        function_arn=function_arn,
        role_arn=role_arn,
        manifest=manifest,
        report=_report_location(home),
        options=options,
        description=f"detector backfill {source or inventory}",
    )
    response = _call(clients.s3control.create_job, "create the S3 Batch Operations job", **request)
    return StartedJob(
        job_id=response["JobId"],
        account_id=account,
        region=clients.region,
        manifest=manifest,
        report=_report_location(home),
    )


def write_manifest(
    s3: S3Client, bucket: str, prefix: str, home: S3Location, *, everything: bool
) -> Manifest:
    """List the prefix and put its CSV manifest under ``home``/manifests/."""
    from detector import aws  # noqa: PLC0415 - keep --help fast
    from detector.aws import S3Location  # noqa: PLC0415

    keys = list_objects(s3, bucket, prefix, everything=everything)
    name = f"{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}-{uuid.uuid4().hex[:8]}.csv"
    location = S3Location(home.bucket, f"{home.key}manifests/{name}")
    info = aws.put_object(s3, location, manifest_csv(bucket, keys), content_type="text/csv")
    return Manifest(location, info.etag.strip('"'), MANIFEST_FORMAT, objects=len(keys))


def inventory_manifest(s3: S3Client, location: S3Location) -> Manifest:
    """An S3 Inventory report's ``manifest.json``, checked: Batch Operations reads CSV only."""
    from detector import aws  # noqa: PLC0415 - keep --help fast

    obj = aws.get_object(s3, location, max_bytes=16 * 1024 * 1024)
    try:
        described = json.loads(obj.body)
        file_format = described["fileFormat"]
    except (ValueError, KeyError, TypeError):
        raise BackfillError(f"{location} is not an S3 Inventory manifest.json") from None
    if file_format != "CSV":
        raise BackfillError(
            f"the inventory at {location} is {file_format}; S3 Batch Operations reads CSV "
            "inventories only"
        )
    return Manifest(location, obj.info.etag.strip('"'), INVENTORY_FORMAT)


def job_request(
    *,
    account_id: str,
    function_arn: str,
    role_arn: str,
    manifest: Manifest,
    report: S3Location,
    options: Mapping[str, str],
    description: str,
) -> dict[str, Any]:
    """The ``s3control.create_job`` arguments: LambdaInvoke, schema 2.0, all-tasks report."""
    partition = _partition(function_arn)
    spec: dict[str, Any] = {"Format": manifest.format}
    if manifest.format == MANIFEST_FORMAT:
        spec["Fields"] = ["Bucket", "Key"]
    location = manifest.location
    report_spec = {
        "Bucket": f"arn:{partition}:s3:::{report.bucket}",
        "Format": REPORT_FORMAT,
        "Enabled": True,
        "ReportScope": "AllTasks",
    }
    if report.key:
        report_spec["Prefix"] = report.key
    return {
        "AccountId": account_id,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": function_arn,
                "InvocationSchemaVersion": INVOCATION_SCHEMA,
                "UserArguments": dict(options),
            }
        },
        "Report": report_spec,
        "ClientRequestToken": str(uuid.uuid4()),
        "Manifest": {
            "Spec": spec,
            "Location": {
                "ObjectArn": f"arn:{partition}:s3:::{location.bucket}/{location.key}",
                "ETag": manifest.etag,
            },
        },
        "Description": description[:256],
        "Priority": JOB_PRIORITY,
        "RoleArn": role_arn,
    }


# --- status -----------------------------------------------------------------------------------
def job_status(job_id: str, *, clients: JobClients | None = None) -> dict[str, Any]:
    """``s3control.describe_job``'s ``Job``."""
    clients = clients or JobClients.for_function(None)
    response = _call(
        clients.s3control.describe_job,
        f"describe job {job_id}",
        AccountId=clients.account_id(),
        JobId=job_id,
    )
    job: dict[str, Any] = response["Job"]
    return job


def print_status(job: Mapping[str, Any], out: TextIO) -> None:
    progress = job.get("ProgressSummary", {})
    total = progress.get("TotalNumberOfTasks")
    succeeded = progress.get("NumberOfTasksSucceeded", 0)
    failed = progress.get("NumberOfTasksFailed", 0)
    active = progress.get("Timers", {}).get("ElapsedTimeInActiveSeconds")
    lines = [f"job {job.get('JobId')}: {job.get('Status')}"]
    lines.append(
        f"tasks: {succeeded + failed} of {total if total is not None else '?'} done, "
        f"{succeeded} succeeded, {failed} failed"
        + (f"; {active} s active" if active is not None else "")
    )
    for reason in job.get("FailureReasons", []):
        lines.append(f"failure: {reason.get('FailureCode')}: {reason.get('FailureReason')}")
    if job.get("StatusUpdateReason"):
        lines.append(f"why: {job['StatusUpdateReason']}")
    report = job.get("Report", {})
    if report.get("Enabled"):
        bucket = str(report.get("Bucket", "")).rsplit(":", 1)[-1]
        prefix = f"{report['Prefix']}/" if report.get("Prefix") else ""
        lines.append(f"report: s3://{bucket}/{prefix}job-{job.get('JobId')}/")
    print("\n".join(lines), file=out)


# --- --local: the handler in this process ----------------------------------------------------
@dataclass
class LocalSummary:
    """What ``--local`` did: a count per result code, the failures, the time taken."""

    source: str
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    failures: list[tuple[str, str, str]] = field(default_factory=list)  # key, code, why
    task_seconds: list[float] = field(default_factory=list)  # each object's invocation

    @property
    def processed(self) -> int:
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        return self.processed - self.counts.get("Succeeded", 0)

    @property
    def images_per_second(self) -> float:
        return self.processed / self.seconds if self.seconds else 0.0

    def describe(self) -> str:
        temporary = self.counts.get("TemporaryFailure", 0)
        return (
            f"{self.source}: processed {self.processed}, failed {self.failed}"
            + (f" ({temporary} temporary: run again)" if temporary else "")
            + f"; {self.seconds:.1f} s, {self.images_per_second:.1f} images/s"
        )


def run_local(
    source: str,
    *,
    options: Mapping[str, str],
    everything: bool = False,
    progress: TextIO | None = None,
    function_log: Path | None = None,
) -> LocalSummary:
    """Every listed object through the upload handler, as Batch Operations would send it.

    See :func:`local_function`. ``progress`` gets a progress line when it is a terminal,
    and one line per failure.
    """
    from detector.aws import AwsClients  # noqa: PLC0415 - keep --help fast

    bucket, prefix = parse_prefix(source)
    keys = list_objects(AwsClients().s3, bucket, prefix, everything=everything)
    summary = LocalSummary(source)
    with local_function(bucket, function_log) as invoke:
        started = time.perf_counter()
        for index, key in enumerate(keys, 1):
            invoked = time.perf_counter()
            result = invoke(key, options)
            done = time.perf_counter()
            summary.task_seconds.append(done - invoked)
            summary.seconds = done - started
            code = result["resultCode"]
            summary.counts[code] = summary.counts.get(code, 0) + 1
            if code != "Succeeded":
                summary.failures.append((key, code, result["resultString"]))
                _say(progress, f"{code}: s3://{bucket}/{key}: {result['resultString']}")
            _progress(progress, index, len(keys), summary)
    _progress(progress, 0, 0, summary)  # clears the line
    return summary


@contextlib.contextmanager
def local_function(
    bucket: str, function_log: Path | None = None
) -> Iterator[Callable[[str, Mapping[str, str]], dict[str, Any]]]:
    """``invoke(key, options)``: one object of ``bucket`` through the upload handler.

    The handler starts cold in this process with its settings from the environment
    (without MODEL_URI: the sample model; without INPUT_BUCKETS: ``bucket``); boto3 goes
    to ``AWS_ENDPOINT_URL`` when it is set. ``invoke`` sends the S3 Batch Operations event
    (schema 2.0, the options as userArguments) and returns the task's result.
    """
    from detector.local import events  # noqa: PLC0415 - keep --help fast
    from detector.local.context import LocalContext  # noqa: PLC0415
    from detector.local.demo import environment  # noqa: PLC0415

    with contextlib.ExitStack() as stack:
        stack.enter_context(environment(_local_function_environment(os.environ, bucket)))
        # The function's own output (JSON logs, EMF metrics) stays out of ours.
        log = stack.enter_context((function_log or Path(os.devnull)).open("w", encoding="utf-8"))
        stack.enter_context(contextlib.redirect_stdout(log))
        handler = _cold_handler()
        stack.enter_context(_logging_to(handler.logger.registered_handler, log))

        def invoke(key: str, options: Mapping[str, str]) -> dict[str, Any]:
            event = events.batch_operations_event(bucket, key, user_arguments=options)
            [result] = handler.lambda_handler(event, LocalContext())["results"]
            return dict(result)

        yield invoke


def _local_function_environment(environ: Mapping[str, str], bucket: str) -> dict[str, str]:
    """What ``--local`` needs and the user left unset: a model, the bucket to serve."""
    from detector import settings  # noqa: PLC0415
    from detector.local import samples  # noqa: PLC0415

    # Powertools' own switch: there is no X-Ray daemon here to send traces to.
    wanted = {"POWERTOOLS_TRACE_DISABLED": "true", settings.INPUT_BUCKETS: bucket}
    if not environ.get(settings.MODEL_URI):
        wanted[settings.MODEL_URI] = str(samples.sample_model_path())
        wanted[settings.MODEL_NAMES_FILE] = str(samples.sample_names_path())
    return {name: value for name, value in wanted.items() if not environ.get(name)}


@contextlib.contextmanager
def _logging_to(handler: logging.Handler, stream: TextIO) -> Iterator[None]:
    """Powertools keeps one log handler per service for the whole process, bound to the
    stdout of the first import: point it at ``stream`` for the block."""
    if not isinstance(handler, logging.StreamHandler):
        yield
        return
    previous = handler.setStream(stream)
    try:
        yield
    finally:
        handler.setStream(previous)


def _cold_handler() -> Any:
    """The upload handler module, imported anew: a cold start with today's environment."""
    name = "detector.handlers.s3"
    sys.modules.pop(name, None)
    return importlib.import_module(name)


def _progress(out: TextIO | None, done: int, total: int, summary: LocalSummary) -> None:
    if out is None or not out.isatty():
        return
    if not total:
        out.write("\r\033[K")
    else:
        width = 30
        filled = width * done // total
        out.write(
            f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}  "
            f"{summary.images_per_second:.1f} images/s  failed {summary.failed}\033[K"
        )
    out.flush()


def _say(out: TextIO | None, line: str) -> None:
    if out is not None:
        out.write(("\r\033[K" if out.isatty() else "") + line + "\n")
        out.flush()


# --- AWS --------------------------------------------------------------------------------------
def _call(method: Any, doing: str, **kwargs: Any) -> Any:
    """``method(**kwargs)``; a botocore failure is one BackfillError that says what failed."""
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415

    try:
        return method(**kwargs)
    except ClientError as error:
        details = error.response.get("Error", {})
        raise BackfillError(
            f"cannot {doing}: {details.get('Code', 'error')}: {details.get('Message', '')}"
        ) from None
    except BotoCoreError as error:
        raise BackfillError(f"cannot {doing}: {error}") from None


def _partition(arn: str) -> str:
    return _arn_part(arn, 1) or "aws"


def _arn_part(arn: str, index: int) -> str | None:
    parts = arn.split(":")
    return parts[index] if len(parts) > index and parts[0] == "arn" else None


def _job_home(report: str | None, bucket: str) -> S3Location:
    """Where the job keeps its files: ``--report``, else ``s3://bucket/backfill/``."""
    from detector.aws import S3Location  # noqa: PLC0415

    if report is None:
        return S3Location(bucket, DEFAULT_JOB_PREFIX)
    home_bucket, prefix = parse_prefix(report)
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return S3Location(home_bucket, prefix)


def _report_location(home: S3Location) -> S3Location:
    from detector.aws import S3Location  # noqa: PLC0415

    return S3Location(home.bucket, f"{home.key}reports")


def _manifest_location(uri: str) -> S3Location:
    from detector.aws import S3Location  # noqa: PLC0415

    try:
        return S3Location.parse(uri)
    except DetectorError:
        message = f"--manifest takes s3://BUCKET/KEY of a manifest.json: {uri!r}"
        raise BackfillError(message) from None
