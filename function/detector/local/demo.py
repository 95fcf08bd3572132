"""``detector demo``: the product end to end on this machine, step by step.

A real local AWS endpoint (moto's server on 127.0.0.1), a KMS key, the sample model sealed
and uploaded to S3, a signed token, then the sample image through the real API handler
(as an HTTP API event) and through the real S3 upload handler (as an S3 notification).
The handlers run in this process and reach the endpoint through the same boto3 code they
run in Lambda. They are imported only once the environment points at the endpoint,
because they read their settings when imported.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, TextIO

from detector import settings
from detector.errors import DetectorError
from detector.local import events, samples
from detector.local.context import LocalContext
from detector.local.s3server import LocalAws

BUCKET = "detector-demo"
MODEL_KEY = "models/yolox_nano.sealed"
UPLOAD_KEY = "uploads/dog.jpg"
MODEL_ID = "yolox-nano-coco"
JWT_SECRET_NAME = "detector-demo/jwt-secret"  # noqa: S105 - a name, not the secret
SCOPE = "detect"
STEPS = 8
# Powertools' own switch, not one of our settings: there is no X-Ray daemon to send to.
NO_TRACING = {"POWERTOOLS_TRACE_DISABLED": "true"}
FUNCTION_LOG = "function.log"


class DemoError(DetectorError):
    """A step of the demo did not give what it should have."""

    code = "demo_failed"


class Progress:
    """Numbered step lines, ``[3/8] title``, then indented details and the time taken."""

    def __init__(self, out: TextIO, total: int = STEPS) -> None:
        self.out = out
        self.total = total
        self.count = 0

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.count += 1
        self.line(f"[{self.count}/{self.total}] {title}", indent=0)
        started = time.perf_counter()
        yield
        self.line(f"({(time.perf_counter() - started) * 1000:.0f} ms)")

    def line(self, text: str = "", *, indent: int = 6) -> None:
        for part in text.splitlines() or [""]:
            print(" " * indent + part if part else "", file=self.out, flush=True)


def run(output_dir: Path, *, out: TextIO) -> int:
    """Run the demo, writing its files to ``output_dir``; 0 when every step worked."""
    progress = Progress(out)
    progress.line("serverless-detector demo: the real handlers on a local AWS endpoint", indent=0)
    progress.line(indent=0)
    started = time.perf_counter()
    try:
        demonstrate(output_dir.resolve(), progress)
    except DetectorError as exc:
        progress.line(f"The demo stopped: {exc.message}", indent=0)
        return 1
    except OSError as exc:  # e.g. the output folder is not writable
        progress.line(f"The demo stopped: {exc}", indent=0)
        return 1
    progress.line(indent=0)
    progress.line(
        f"Done in {time.perf_counter() - started:.1f} s; files in {output_dir}/. Next: "
        "`make test`, or `.venv/bin/detector serve` and open http://127.0.0.1:3000/",
        indent=0,
    )
    return 0


def demonstrate(output_dir: Path, progress: Progress) -> None:
    """The eight steps; the local endpoint is stopped whatever happens."""
    output_dir.mkdir(parents=True, exist_ok=True)
    with progress.step("Find the sample model and image"):
        model_path = samples.sample_model_path()
        image_path = samples.sample_image_path()
        image = image_path.read_bytes()
        progress.line(f"model  {model_path} ({_mb(model_path.stat().st_size)})")
        progress.line(f"image  {image_path} ({len(image) // 1000} kB)")

    with ExitStack() as endpoint:
        with progress.step("Start a local AWS endpoint (moto's server on a free port)"):
            aws = endpoint.enter_context(LocalAws())
            endpoint.enter_context(aws.activated())
            endpoint.enter_context(environment(NO_TRACING))
            aws.client("s3").create_bucket(Bucket=BUCKET)
            progress.line(f"{aws.endpoint_url}: S3, KMS, Secrets Manager, dummy credentials")
            progress.line(f"bucket s3://{BUCKET}")

        with progress.step("Generate a key: a KMS key that will wrap the model's data key"):
            kms_key = aws.client("kms").create_key(Description="serverless-detector demo")
            key_arn = kms_key["KeyMetadata"]["Arn"]
            progress.line(key_arn)

        with progress.step("Seal the sample model and upload it (what `detector pack` does)"):
            model_uri = seal_and_upload(model_path, key_arn, output_dir, progress)

        with progress.step("Configure the function and mint a token"):
            function_env = function_environment(model_uri, output_dir)
            token = configure_function(aws, function_env, progress)
            endpoint.enter_context(environment(function_env))

        # The function's own output (JSON log lines, EMF metrics) goes to a file, not
        # between the demo's lines; the handlers bind their loggers to it on import.
        log = endpoint.enter_context((output_dir / FUNCTION_LOG).open("w", encoding="utf-8"))
        endpoint.enter_context(redirect_stdout(log))

        with progress.step("POST /detect through the API handler, as API Gateway sends it"):
            detect_through_api(image, token, output_dir, progress)

        with progress.step(f"Upload to s3://{BUCKET}/{UPLOAD_KEY}; the S3 handler runs"):
            detect_through_upload(aws, image, output_dir, progress)
            progress.line(f"the function's own log lines and metrics: {log.name}")

        with progress.step("Stop the local endpoint"):
            endpoint.close()
            progress.line("stopped; nothing was sent anywhere but 127.0.0.1")


def seal_and_upload(model_path: Path, key_arn: str, output_dir: Path, progress: Progress) -> str:
    """``detector pack --kms-key-id --upload``: the sealed model's S3 URI."""
    from detector import sealing  # noqa: PLC0415 - imports the engine

    uri = f"s3://{BUCKET}/{MODEL_KEY}"
    summary = sealing.pack(
        model_path,
        output_dir / "yolox_nano.sealed",
        kms_key_id=key_arn,
        names_file=samples.sample_names_path(),
        model_id=MODEL_ID,
        upload_to=uri,
    )
    metadata = summary["model"]
    progress.line(
        f"model id {metadata['model_id']}, family {metadata['family']}, input "
        f"{metadata['input_size'][0]}x{metadata['input_size'][1]}, "
        f"{len(metadata['class_names'])} classes"
    )
    progress.line(
        f"{_mb(summary['plaintext_length'])} ONNX -> {summary['compression']} "
        f"{_mb(summary['compressed_length'])} -> {summary['cipher']}, data key wrapped by KMS "
        f"(context {json.dumps(summary['encryption_context'])})"
    )
    progress.line(f"uploaded {uri} ({_mb(summary['sealed_length'])})")
    return uri


def configure_function(aws: LocalAws, function_env: Mapping[str, str], progress: Progress) -> str:
    """Store a JWT secret in Secrets Manager; a token signed with it."""
    from detector.auth import issue_token  # noqa: PLC0415

    jwt_secret = secrets.token_urlsafe(32)
    aws.client("secretsmanager").create_secret(Name=JWT_SECRET_NAME, SecretString=jwt_secret)
    token = issue_token(jwt_secret, subject="demo-user", scope=SCOPE, ttl_seconds=600)
    for name, value in function_env.items():
        progress.line(f"{name}={value}")
    progress.line(f"token  HS256, subject demo-user, scope {SCOPE}, valid 10 min: {token[:24]}…")
    return token


def function_environment(model_uri: str, output_dir: Path) -> dict[str, str]:
    """The function's settings for the demo, as the template would set them."""
    return {
        settings.MODEL_URI: model_uri,
        # The cache holds sealed bytes only; here it stays with the demo's other files.
        settings.MODEL_CACHE_DIR: str(output_dir / "model-cache"),
        settings.JWT_SECRET_ID: JWT_SECRET_NAME,
        settings.JWT_REQUIRED_SCOPE: SCOPE,
        settings.INPUT_BUCKETS: BUCKET,
        settings.ANNOTATE: "true",
    }


def detect_through_api(image: bytes, token: str, output_dir: Path, progress: Progress) -> None:
    """The sample image as an HTTP API event; prints the detections, writes the JPEG."""
    from detector.handlers import api  # noqa: PLC0415 - reads the settings when imported

    refused = api.lambda_handler(
        events.api_event("http", "POST", "/detect", body=image, content_type="image/jpeg"),
        LocalContext(),
    )
    progress.line(f"without a token: {refused['statusCode']} {_error(refused)}")
    event = events.api_event(
        "http",
        "POST",
        "/detect",
        body=image,
        content_type="image/jpeg",
        token=token,
        query={"annotate": "true"},
    )
    started = time.perf_counter()
    response = api.lambda_handler(event, LocalContext())
    elapsed = (time.perf_counter() - started) * 1000
    if response["statusCode"] != 200:
        raise DemoError(f"the API answered {response['statusCode']}: {_error(response)}")
    document = json.loads(response["body"])
    progress.line(f"with the token: 200 in {elapsed:.0f} ms (the first call loads the model)")
    progress.line(table(document["detections"]))
    progress.line(f"timing  {steps(document['timing_ms'])}")
    loaded = api.model.get()  # loaded by the call above: this only reads what it cost
    progress.line(
        f"cold start, model from {loaded.fetched_from}, decrypted in memory: "
        f"{steps(loaded.timings_ms)}"
    )
    annotated = base64.b64decode(document.pop("annotated_image"))
    (output_dir / "api-response.json").write_text(json.dumps(document, indent=2) + "\n")
    (output_dir / "dog.api.jpg").write_bytes(annotated)
    progress.line(f"annotated image  {output_dir / 'dog.api.jpg'}")
    progress.line(f"response         {output_dir / 'api-response.json'}")


def detect_through_upload(
    aws: LocalAws, image: bytes, output_dir: Path, progress: Progress
) -> None:
    """Put the image under uploads/, hand the S3 notification to the S3 handler, show results."""
    from detector.handlers import s3 as s3_handler  # noqa: PLC0415 - reads settings on import

    s3 = aws.client("s3")
    before = _keys(s3)
    put = s3.put_object(Bucket=BUCKET, Key=UPLOAD_KEY, Body=image, ContentType="image/jpeg")
    notification = events.s3_notification(
        BUCKET, UPLOAD_KEY, size=len(image), etag=put["ETag"].strip('"')
    )
    outcome = s3_handler.lambda_handler(notification, LocalContext())
    progress.line(f"handler returned {json.dumps(outcome)}")
    written = sorted(_keys(s3) - before - {UPLOAD_KEY})
    results = [key for key in written if key.endswith(".json")]
    jpegs = [key for key in written if key.endswith(".jpg")]
    if not results:
        raise DemoError(f"the S3 handler wrote no result; new objects: {written or 'none'}")
    result = json.loads(s3.get_object(Bucket=BUCKET, Key=results[0])["Body"].read())
    progress.line(f"s3://{BUCKET}/{results[0]}:")
    progress.line(compact_json(result))
    for key in jpegs:
        target = output_dir / "dog.s3.jpg"
        target.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        progress.line(f"s3://{BUCKET}/{key} -> {target}")


def compact_json(document: Mapping[str, Any]) -> str:
    """JSON with one line per top-level member and per item of a list of objects."""
    members = []
    for name, value in document.items():
        if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
            items = ",\n".join(f"    {json.dumps(item)}" for item in value)
            members.append(f"  {json.dumps(name)}: [\n{items}\n  ]")
        else:
            members.append(f"  {json.dumps(name)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(members) + "\n}"


def table(detections: Sequence[Mapping[str, Any]]) -> str:
    """The detections as an aligned text table."""
    rows = [f"{'label':<14} {'score':>5}  box (x1, y1, x2, y2) px"]
    for item in detections:
        box = ", ".join(f"{value:.0f}" for value in item["box"])
        rows.append(f"{item['label']:<14} {item['score']:>5.2f}  [{box}]")
    return "\n".join(rows)


def steps(timings_ms: Mapping[str, float]) -> str:
    """``decode 3.1 ms · inference 41.0 ms · ...``"""
    return " · ".join(f"{step} {ms:.1f} ms" for step, ms in timings_ms.items())


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in ``os.environ`` for the block; the previous values come back after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _keys(s3: Any) -> set[str]:
    listing = s3.list_objects_v2(Bucket=BUCKET)
    return {item["Key"] for item in listing.get("Contents", [])}


def _error(response: Mapping[str, Any]) -> str:
    try:
        error = json.loads(response.get("body") or "{}").get("error", {})
    except json.JSONDecodeError:
        return "(no JSON body)"
    return f"{error.get('code', '?')}: {error.get('message', '')}"


def _mb(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"
