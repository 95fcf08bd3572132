"""``detector backfill``: the manifest and the job it creates, and the in-process ``--local`` run.

moto does not run S3 Batch Operations jobs, so ``create_job`` and ``describe_job`` go to a
Stubber on a real s3control client: botocore checks every request against its own service
model (a missing or misspelt field, a wrong type, is a ParamValidationError) and every
stubbed answer against the response shape. S3 and STS are moto's.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from botocore.stub import ANY, Stubber

from detector import commands
from detector.commands import backfill
from detector.commands.backfill import BackfillError, JobClients
from detector.local.s3server import LocalAws

BUCKET = "photo-archive"
FUNCTION = "arn:aws:lambda:us-east-1:123456789012:function:detector-DetectUploads:live"
ROLE = "arn:aws:iam::123456789012:role/detector-BackfillRole"
ACCOUNT = "123456789012"  # moto's account
KEYS = [
    "2019/dog.jpg",
    "2019/street photos/bike, dog.JPEG",
    "2019/c++/a+b.png",
    "2019/日本/café ☕.webp",
    "2019/notes.txt",
    "2019/folder/",
    "detections/2019/dog.jpg.json",
    "annotated/2019/dog.jpg.jpg",
]
IMAGES = KEYS[:4]


@pytest.fixture
def archive(clients: Any) -> Any:
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for key in KEYS:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"bytes")
    return s3


@pytest.fixture
def job_clients(archive: Any) -> tuple[JobClients, Stubber]:
    s3control = boto3.client("s3control", region_name="us-east-1")
    clients = JobClients(archive, s3control, boto3.client("sts"), "us-east-1")
    return clients, Stubber(s3control)


def start(clients: JobClients, **arguments: Any) -> backfill.StartedJob:
    """``start_job`` for the stack's function and role; ``arguments`` say the rest."""
    defaults: dict[str, Any] = {"source": None, "inventory": None, "report": None, "options": {}}
    return backfill.start_job(
        **{**defaults, **arguments}, function_arn=FUNCTION, role_arn=ROLE, clients=clients
    )


def manifest_rows(s3: Any, key: str, bucket: str = BUCKET) -> list[list[str]]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("ascii")
    return list(csv.reader(io.StringIO(body)))


def expected_job(manifest_arn: str, manifest_format: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"Format": manifest_format}
    if manifest_format == backfill.MANIFEST_FORMAT:
        spec["Fields"] = ["Bucket", "Key"]
    return {
        "AccountId": ACCOUNT,
        "ConfirmationRequired": False,
        "Operation": {
            "LambdaInvoke": {
                "FunctionArn": FUNCTION,
                "InvocationSchemaVersion": "2.0",
                "UserArguments": {},
            }
        },
        "Report": {
            "Bucket": f"arn:aws:s3:::{BUCKET}",
            "Format": "Report_CSV_20180820",
            "Enabled": True,
            "Prefix": "backfill/reports",
            "ReportScope": "AllTasks",
        },
        "ClientRequestToken": ANY,
        "Manifest": {"Spec": spec, "Location": {"ObjectArn": manifest_arn, "ETag": ANY}},
        "Description": ANY,
        "Priority": 10,
        "RoleArn": ROLE,
        **overrides,
    }


# --- the job ----------------------------------------------------------------------------------
def test_a_job_gets_a_csv_manifest_of_the_images_and_a_lambda_invoke_schema_2_request(
    job_clients, archive
) -> None:
    clients, stubber = job_clients
    stubber.add_response(
        "create_job",
        {"JobId": "00e123a4-c0d8-41f4-a0eb-b46f9ba5b07c"},
        expected_job(ANY, backfill.MANIFEST_FORMAT),
    )

    with stubber:
        started = start(clients, source=f"s3://{BUCKET}/2019/")
    stubber.assert_no_pending_responses()

    # the manifest lists the images (URL-encoded keys), not the text file, folder or outputs
    manifest = started.manifest.location
    assert manifest.bucket == BUCKET
    assert manifest.key.startswith("backfill/manifests/") and manifest.key.endswith(".csv")
    rows = manifest_rows(archive, manifest.key)
    assert [(bucket, unquote(key)) for bucket, key in rows] == [(BUCKET, k) for k in sorted(IMAGES)]
    assert started.manifest.objects == 4
    etag = archive.head_object(Bucket=BUCKET, Key=manifest.key)["ETag"].strip('"')
    assert started.manifest.etag == etag
    assert "detector backfill status 00e123a4-c0d8-41f4-a0eb-b46f9ba5b07c" in started.describe()


def test_the_request_names_the_manifest_it_wrote_with_its_etag(job_clients, archive) -> None:
    clients, stubber = job_clients
    archive.create_bucket(Bucket="job-files")
    sent: dict[str, Any] = {}
    clients.s3control.meta.events.register(
        "before-parameter-build.s3-control.CreateJob", lambda params, **_: sent.update(params)
    )
    stubber.add_response("create_job", {"JobId": "00e123a4-c0d8-41f4-a0eb-b46f9ba5b07c"})

    with stubber:
        started = start(
            clients,
            source=f"s3://{BUCKET}/2019/",
            report="s3://job-files/runs/one",
            options={"conf": "0.4", "classes": "dog,cat", "annotate": "true"},
            everything=True,
        )

    manifest = started.manifest.location
    assert manifest.bucket == "job-files" and manifest.key.startswith("runs/one/manifests/")
    assert sent["Manifest"]["Location"] == {
        "ObjectArn": f"arn:aws:s3:::job-files/{manifest.key}",
        "ETag": archive.head_object(Bucket="job-files", Key=manifest.key)["ETag"].strip('"'),
    }
    assert sent["Report"]["Bucket"] == "arn:aws:s3:::job-files"
    assert sent["Report"]["Prefix"] == "runs/one/reports"
    assert sent["Operation"]["LambdaInvoke"]["UserArguments"] == {
        "conf": "0.4",
        "classes": "dog,cat",
        "annotate": "true",
    }
    assert started.manifest.objects == 5  # --all: the text file too, still no folder or output


def test_an_s3_inventory_report_is_used_as_it_is(job_clients, archive) -> None:
    clients, stubber = job_clients
    inventory_key = "inventory/photo-archive/all/2026-12-01T01-00Z/manifest.json"
    described = {"sourceBucket": BUCKET, "fileFormat": "CSV", "files": []}
    archive.put_object(Bucket=BUCKET, Key=inventory_key, Body=json.dumps(described).encode())
    stubber.add_response(
        "create_job",
        {"JobId": "00e123a4-c0d8-41f4-a0eb-b46f9ba5b07c"},
        expected_job(f"arn:aws:s3:::{BUCKET}/{inventory_key}", "S3InventoryReport_CSV_20161130"),
    )

    with stubber:
        started = start(clients, inventory=f"s3://{BUCKET}/{inventory_key}")

    assert started.manifest.objects is None
    assert "the objects of the inventory report" in started.describe()


def test_an_inventory_in_another_format_is_refused_before_any_job(job_clients, archive) -> None:
    clients, stubber = job_clients
    archive.put_object(Bucket=BUCKET, Key="inv/manifest.json", Body=b'{"fileFormat": "Parquet"}')

    with stubber, pytest.raises(BackfillError, match=r"Parquet.*CSV inventories only"):
        start(clients, inventory=f"s3://{BUCKET}/inv/manifest.json")


def test_an_empty_prefix_is_said_before_any_job(job_clients) -> None:
    clients, stubber = job_clients

    with stubber, pytest.raises(BackfillError, match="2020/: nothing to do"):
        start(clients, source=f"s3://{BUCKET}/2020/")


def test_a_refused_job_is_one_clear_error(job_clients) -> None:
    clients, stubber = job_clients
    stubber.add_client_error(
        "create_job", "BadRequestException", "Lambda function not found", http_status_code=400
    )

    with stubber, pytest.raises(BackfillError, match=r"cannot create .*: BadRequestException"):
        start(clients, source=f"s3://{BUCKET}/2019/")


def test_status_shows_progress_failures_and_where_the_report_is(job_clients) -> None:
    clients, stubber = job_clients
    job_id = "00e123a4-c0d8-41f4-a0eb-b46f9ba5b07c"
    stubber.add_response(
        "describe_job",
        {
            "Job": {
                "JobId": job_id,
                "Status": "Active",
                "ProgressSummary": {
                    "TotalNumberOfTasks": 1000,
                    "NumberOfTasksSucceeded": 600,
                    "NumberOfTasksFailed": 12,
                    "Timers": {"ElapsedTimeInActiveSeconds": 95},
                },
                "Report": {
                    "Bucket": f"arn:aws:s3:::{BUCKET}",
                    "Prefix": "backfill/reports",
                    "Enabled": True,
                    "Format": "Report_CSV_20180820",
                    "ReportScope": "AllTasks",
                },
            }
        },
        {"AccountId": ACCOUNT, "JobId": job_id},
    )
    out = io.StringIO()

    with stubber:
        backfill.print_status(backfill.job_status(job_id, clients=clients), out)

    assert out.getvalue().splitlines() == [
        f"job {job_id}: Active",
        "tasks: 612 of 1000 done, 600 succeeded, 12 failed; 95 s active",
        f"report: s3://{BUCKET}/backfill/reports/job-{job_id}/",
    ]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status"], "say which job"),
        (["s3://b/p/"], "needs --function ARN and --role ARN"),
        (["s3://b/p/", "--function", FUNCTION, "--role", ROLE, "--option", "conf=2"], "conf"),
        (["s3://b/p/", "--function", FUNCTION, "--role", ROLE, "--option", "shape"], "NAME=VALUE"),
        (["s3://b/p/", "--function", FUNCTION, "--role", ROLE, "--option", "x=1"], "unknown"),
        (["--function", FUNCTION, "--role", ROLE], "either s3://BUCKET/PREFIX/ to list"),
        (["http://b/p/", "--local"], "not an S3 prefix"),
    ],
)
def test_wrong_arguments_are_one_line_and_exit_2_before_anything_is_sent(
    capsys, argv: list[str], message: str
) -> None:
    assert commands.main(["backfill", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("detector backfill: ") and message in err
    assert len(err.splitlines()) == 1


# --- --local ------------------------------------------------------------------------------------
def test_local_runs_the_handler_over_the_listing_on_the_local_endpoint(
    capsys, coco_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bucket on the local endpoint: COCO photos, one broken "photo", a text file
    photos = sorted((coco_dir / "images").glob("*.jpg"))[:6]
    with LocalAws() as aws, aws.activated():
        s3 = aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for photo in photos:
            s3.put_object(Bucket=BUCKET, Key=f"coco/{photo.name}", Body=photo.read_bytes())
        s3.put_object(Bucket=BUCKET, Key="coco/broken.jpg", Body=b"not a jpeg")
        s3.put_object(Bucket=BUCKET, Key="coco/readme.txt", Body=b"text")
        log = tmp_path / "function.log"

        # WHEN the backfill runs in this process (sample model, the bucket served)
        argv = ["--local", f"s3://{BUCKET}/coco/", "--option", "conf=0.3", "--function-log"]
        code = commands.main(["backfill", *argv, str(log)])

        # THEN every image has its result document, and the broken one its error
        written = (
            {item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]}
            - {f"coco/{p.name}" for p in photos}
            - {"coco/broken.jpg", "coco/readme.txt"}
        )
        for photo in photos:
            result = json.loads(
                s3.get_object(Bucket=BUCKET, Key=f"detections/coco/{photo.name}.json")[
                    "Body"
                ].read()
            )
            assert result["source"]["key"] == f"coco/{photo.name}"
            assert all(d["score"] >= 0.3 for d in result["detections"])
        broken = s3.get_object(Bucket=BUCKET, Key="detections/coco/broken.jpg.json")
        assert json.loads(broken["Body"].read())["error"]["code"] == "invalid_image"

    names = [photo.name for photo in photos] + ["broken.jpg"]
    assert written == {f"detections/coco/{name}.json" for name in names}
    assert code == 1  # one object failed
    out, err = capsys.readouterr()
    assert out.startswith(f"s3://{BUCKET}/coco/: processed 7, failed 1; ")
    assert out.rstrip().endswith("images/s")
    # stderr is not a terminal here: no progress bar, only the failure
    assert err.splitlines() == [
        f"PermanentFailure: s3://{BUCKET}/coco/broken.jpg: invalid_image: error document "
        f"s3://{BUCKET}/detections/coco/broken.jpg.json"
    ]
    # the function's own log lines went to the file, one per object
    logged = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    outcomes = [line["outcome"] for line in logged if "outcome" in line]
    assert sorted(outcomes) == ["detected"] * 6 + ["failed"]


class Terminal(io.StringIO):
    """What a person's stderr is: a terminal."""

    def isatty(self) -> bool:
        return True


def test_on_a_terminal_local_draws_a_progress_bar_and_clears_it(dog_jpg: Path) -> None:
    with LocalAws() as aws, aws.activated():
        s3 = aws.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        for name in ("a.jpg", "b.jpg"):
            s3.put_object(Bucket=BUCKET, Key=f"p/{name}", Body=dog_jpg.read_bytes())
        terminal = Terminal()

        summary = backfill.run_local(f"s3://{BUCKET}/p/", options={}, progress=terminal)

    assert (summary.processed, summary.failed) == (2, 0)
    drawn = terminal.getvalue()
    assert "\r[###############...............] 1/2" in drawn
    assert "\r[##############################] 2/2" in drawn
    assert drawn.endswith("\r\033[K")  # the line is cleared for what comes next
