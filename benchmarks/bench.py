"""Benchmarks that print figures: run ``python -m benchmarks.bench`` from the repository root.

The one benchmark entry point. Each section is one function returning rows (``Row``);
``main`` runs the sections asked for, prints one table and writes every row to a JSON
file. Ratios are always measured side by side in one run, interleaved image by image,
because the machine is shared and noisy: two figures taken minutes apart say little about
each other.

Sections:
- ``engine``: median end-to-end time per image (bytes in → detections out) against the
  median bare ``session.run`` on the same images, on the COCO sample images and on a
  12-megapixel JPEG made by upscaling a sample (in a temporary folder, never kept).
- ``threads``: the engine with one onnxruntime thread against all CPUs, interleaved.
- ``cold``: cold starts in fresh processes (``bench_probe.py``): imports, fetch from the
  local S3 endpoint (moto's server on 127.0.0.1), key unwrap (KMS there), decrypt,
  decompress, session, first detection; the plain ``.onnx`` from a file alternating with
  it as the baseline. Also the peak RSS of those processes (``memory`` rows).
- ``keys``: model loading step by step per key mode and compressor (KMS, Secrets Manager,
  SSM; zstd, zlib; a warm /tmp cache) against the plain ``.onnx``, a fresh ``ModelHolder``
  per cold start in this process, AWS answered in-process by moto (so "fetch" is a memory
  copy, not a transfer, and imports are not counted: ``cold`` has those).
- ``warm``: the real API handler, API event in → response out, p50/p90/p99 on COCO JPEGs,
  1920x1080 and 12 MP JPEGs and a PNG, against the engine alone and ``session.run`` alone,
  with one thread and with all CPUs (a fresh process each); and the same request answered
  with the annotated JPEG instead of JSON.
- ``auth``: one bearer-token verification per key type (HS256 secret, RS256 and ES256 PEM
  keys, a JWKS served on 127.0.0.1 after its first fetch).
- ``sealed``: sealing and opening a payload of ``--mib`` random MiB (2200 shows the format
  past the 2 GiB one AES-GCM call can take): time, throughput and the peak allocation
  while opening, against the payload's size.
- ``cost``: USD per million images at 1769 MB, x86_64 and arm64, from the warm means.
- ``preprocess``: every candidate way from JPEG bytes to the model's tensor
  (``preprocess_candidates.py``: ours, a fused fill, Pillow's box and point-bilinear
  filters, onnxruntime's Resize, simplejpeg, pyvips, cykooz-resizer, OpenCV), one thread,
  taking turns on the COCO images and on the 12 MP JPEG: CPU and wall medians, and each
  one's mAP on coco-val64 and the sample photo's car score (what a change of pixels costs).
- ``runtime``: the real API handler against the bare OpenCV floor (``opencv_floor.py``:
  OpenCV decode, point-bilinear resize, pad, the same ``session.run``), each in its own
  ``python -m awslambdaric`` process against a local Runtime API, one thread, on the same
  COCO API events, interleaved: both medians, their ratio, and each side's own steps.
  OpenCV (and the other benchmark-only packages, ``benchmarks/requirements-bench.txt``) is
  installed into ``build/bench-site`` on first use, never into the project's environment.
- ``hostile``: the worst images for decode time and for memory that we could make under
  the default ``ImageLimits`` (``--pixels`` big: the pixel cap), next to a normal 12 MP
  JPEG's and progressive JPEG's; each decoded once in a fresh process (``bench_probe.py
  decode``): its decode time and how far its peak RSS rose, also against the image's
  size as packed 8-bit RGB. And two images over the limits: how soon they are refused.
- ``backfill``: ``detector backfill --local`` over the COCO JPEGs in a bucket of the local
  S3 endpoint (moto's server on 127.0.0.1): the upload handler cold in this process, one
  S3 Batch Operations event per image, each image read from and its result written to
  that endpoint. Images/s of the command's run (the cold start included); then the warm
  handler interleaved image by image with the engine alone on the same images.
- ``imports``, ``coldstart``, ``snapstart`` (``benchmarks.coldstart``): through AWS's
  runtime client against the local Runtime API, side by side with the bare floor of any
  detector (four packages, a plain model from S3, a session, a detection): the handlers'
  import, process start → first detection answered (sealed model, token checked), and the
  first detection after a SnapStart restore against the warm ones.

    python -m benchmarks.bench                      # everything (about 10 minutes on 2 CPUs)
    python -m benchmarks.bench cold warm cost --cold-starts 3 --rounds 1 --out build/b.json
    python -m benchmarks.bench keys --cold-starts 9
    python -m benchmarks.bench sealed --mib 2200
    python -m benchmarks.bench runtime --rounds 5
    python -m benchmarks.bench hostile --pixels 12000000
    python -m benchmarks.bench backfill --threads 1
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import math
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image

from benchmarks import bench_probe, coldstart
from benchmarks.stats import percentile
from detector.auth import TokenVerifier
from detector.aws import AwsClients
from detector.commands import backfill
from detector.cpus import cpu_count
from detector.local import samples, tokens
from detector.local.demo import environment
from detector.local.events import api_event
from detector.local.jwks import serve_jwks
from detector.local.packing import describe_model
from detector.local.runtime_api import Invocation, LambdaProcess, RuntimeApi
from detector.model import keys
from detector.model.artifact import (
    Compression,
    DataKey,
    ModelMetadata,
    open_sealed,
    read_header,
    seal,
)
from detector.pipeline import decode, letterbox
from detector.pipeline.engine import Detector
from detector.settings import ImageLimits, Settings

REPO = Path(__file__).resolve().parents[1]
BENCH_REQUIREMENTS = REPO / "benchmarks" / "requirements-bench.txt"
BENCH_SITE = REPO / "build" / "bench-site"  # benchmark-only packages, never the project's

TWELVE_MP = (4000, 3000)
PROBE = Path(bench_probe.__file__)
PROBE_TIMEOUT_S = 600
WARM_SAMPLES = 64  # per case and round: single images are repeated to this many
AUTH_VERIFICATIONS_PER_ROUND = 100  # one verification takes about 0.1 ms
MIB = 1 << 20
BENCH_SECRET = "bench-only-secret-" + "0" * 32  # a local token secret, nothing else
LAMBDA_MEMORY_MB = 1769  # one full vCPU
# us-east-1 on-demand, first pricing tier: aws.amazon.com/lambda/pricing as transcribed by
# several public sources, looked up on 2026-11-25 (the AWS page itself is not reachable
# from the machine that wrote this). Check before quoting.
LAMBDA_PRICE_PER_GB_SECOND = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_PRICE_PER_MILLION_REQUESTS = 0.20
PRICES_NOTE = (
    "prices: us-east-1, USD 0.0000166667 (x86_64) / 0.0000133334 (arm64) per GB-second, "
    "USD 0.20 per million requests (looked up 2026-11-25); durations measured on this "
    "machine, not on Lambda's CPUs"
)


@dataclass(frozen=True)
class Row:
    section: str
    case: str
    measured: str  # what the figure is
    value: float
    unit: str
    goal: str = ""  # e.g. "<= 1.15"; empty when the row is informational


def median_ms(samples_s: Sequence[float]) -> float:
    return statistics.median(samples_s) * 1000


def interleaved(
    cases: Sequence[object], runs: Sequence[Callable[[object], object]], rounds: int
) -> list[list[float]]:
    """Time every one of ``runs`` in turn on every case, ``rounds`` times: seconds per run."""
    times: list[list[float]] = [[] for _ in runs]
    for _ in range(rounds):
        for case in cases:
            for run, taken in zip(runs, times, strict=True):
                start = time.perf_counter()
                run(case)
                taken.append(time.perf_counter() - start)
    return times


def _engine_pair(
    detector: Detector, images: Sequence[bytes], rounds: int, case: str, goal: str
) -> list[Row]:
    """End-to-end ``detect`` against bare ``session.run`` on the same images.

    Also reports the engine's own per-stage medians, which say where the overhead goes.
    """
    tensors = {}
    for data in images:
        decoded = decode.decode(data, limits=ImageLimits(pixels=10**9))
        tensors[id(data)] = letterbox.letterbox(
            decoded, detector.info.input_size, detector.adapter.recipe
        )[0]
    feed_name = detector.info.input_name
    stages: dict[str, list[float]] = {}

    def end_to_end(data: object) -> None:
        result = detector.detect(data)  # type: ignore[arg-type]
        for stage, ms in result.timing_ms.items():
            stages.setdefault(stage, []).append(ms)

    def session_run(data: object) -> None:
        detector.session.run(None, {feed_name: tensors[id(data)]})

    for data in images[:3]:  # warm-up: first runs allocate
        end_to_end(data)
        session_run(data)
    stages.clear()
    e2e, run = interleaved(images, (end_to_end, session_run), rounds)
    e2e_ms, run_ms = median_ms(e2e), median_ms(run)
    decode_ms = statistics.median(stages["decode"])
    return [
        Row("engine", case, "end-to-end median", e2e_ms, "ms"),
        Row("engine", case, "session.run median", run_ms, "ms"),
        Row("engine", case, "overhead (difference of medians)", e2e_ms - run_ms, "ms"),
        *(
            Row("engine", case, f"  stage median: {stage}", statistics.median(times), "ms")
            for stage, times in stages.items()
            if stage != "total"
        ),
        Row("engine", case, "ratio end-to-end / session.run", e2e_ms / run_ms, "x", goal),
        # What no resize or NMS work can beat: the JPEG decode alone is serial entropy
        # decoding (libjpeg-turbo), as costly at a 1/8 DCT scale as nearly at full size.
        Row("engine", case, "floor: 1 + decode / session.run", 1 + decode_ms / run_ms, "x"),
    ]


def twelve_megapixel_jpeg(source: Path, folder: Path) -> Path:
    """A sample photo upscaled to 4000x3000 and saved as a JPEG in ``folder``."""
    path = folder / "twelve-megapixel.jpg"
    with Image.open(source) as image:
        big = image.convert("RGB").resize(TWELVE_MP, Image.Resampling.BICUBIC)
    out = io.BytesIO()
    big.save(out, format="JPEG", quality=90)
    path.write_bytes(out.getvalue())
    return path


def engine_section(rounds: int = 5, threads: int | None = None) -> list[Row]:
    """The engine's overhead over ``session.run`` on COCO images and on a 12 MP JPEG."""
    detector = Detector.from_bytes(samples.sample_model_path().read_bytes(), threads=threads)
    coco = [p.read_bytes() for p in sorted((samples.coco_dir() / "images").glob("*.jpg"))]
    rows = _engine_pair(detector, coco, rounds, f"coco-val64 ({len(coco)} JPEGs)", "<= 1.15")
    with tempfile.TemporaryDirectory() as folder:
        big = twelve_megapixel_jpeg(samples.sample_image_path(), Path(folder)).read_bytes()
        rows += _engine_pair(detector, [big], rounds * 4, "12 MP JPEG (4000x3000)", "<= 2.5")
    return rows


def threads_section(rounds: int = 3) -> list[Row]:
    """End-to-end time with one onnxruntime thread against all CPUs, interleaved.

    Lambda gives one vCPU at 1769 MB and two up to 3008 MB: the one-thread figure is the
    one to read for the 1769 MB price.
    """
    model = samples.sample_model_path().read_bytes()
    everyone = cpu_count()
    single, every = (Detector.from_bytes(model, threads=n) for n in (1, everyone))
    coco = [p.read_bytes() for p in sorted((samples.coco_dir() / "images").glob("*.jpg"))]
    for data in coco[:3]:  # warm-up
        single.detect(data)
        every.detect(data)
    one, many = interleaved(coco, (single.detect, every.detect), rounds)  # type: ignore[arg-type]
    case = f"coco-val64, end-to-end (this machine: {everyone} CPUs, shared)"
    return [
        Row("threads", case, "median, 1 thread", median_ms(one), "ms"),
        Row("threads", case, f"median, {everyone} threads", median_ms(many), "ms"),
        Row("threads", case, "speed-up all threads / 1", median_ms(one) / median_ms(many), "x"),
    ]


def bench_images(folder: Path) -> dict[str, list[Path]]:
    """The warm cases: the COCO JPEGs, and a sample made 1080p, 12 MP and PNG in ``folder``."""
    source = samples.sample_image_path()
    with Image.open(source) as image:
        picture = image.convert("RGB")
    made: dict[str, list[Path]] = {}
    for name, size, fmt in (
        ("1920x1080 JPEG", (1920, 1080), "JPEG"),
        ("12 MP JPEG (4000x3000)", TWELVE_MP, "JPEG"),
        (f"PNG ({picture.width}x{picture.height})", picture.size, "PNG"),
    ):
        path = folder / f"{len(made)}.{fmt.lower()}"
        resized = (
            picture if size == picture.size else picture.resize(size, Image.Resampling.BICUBIC)
        )
        resized.save(path, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        made[name] = [path]
    coco = sorted((samples.coco_dir() / "images").glob("*.jpg"))
    return {f"coco-val64 ({len(coco)} JPEGs)": coco, **made}


def probe(arguments: Sequence[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``bench_probe.py`` in a fresh interpreter; its last stdout line is the report."""
    done = subprocess.run(
        [sys.executable, str(PROBE), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=PROBE_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"probe {arguments[0]} failed:\n{done.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def probe_env(threads: int, **extra: str) -> dict[str, str]:
    """A clean environment for a probe: no real AWS settings, a local token secret."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "MODEL_", "JWT_", "POWERTOOLS_"))
    }
    env.update(
        {
            "JWT_SECRET": BENCH_SECRET,
            bench_probe.BENCH_SECRET_ENV: BENCH_SECRET,
            "ORT_THREADS": str(threads),
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(REPO / "function"),
        }
    )
    env.update(extra)
    return env


def sample_metadata(model: bytes) -> ModelMetadata:
    """What ``detector pack`` seals with the sample model and its COCO names."""
    return describe_model(
        model,
        names_file=samples.sample_names_path(),
        family=None,
        model_id="yolox-nano-bench",
        default_id="yolox-nano-bench",
    )


def seal_to_local_s3(local: Any, model: bytes) -> str:
    """Seal ``model`` under a fresh KMS key on the local endpoint, upload it: its URI."""
    metadata = sample_metadata(model)
    kms, s3 = local.client("kms"), local.client("s3")
    key_id = kms.create_key(Description="bench")["KeyMetadata"]["Arn"]
    sealed = seal(model, keys.kms_data_key(kms, key_id, metadata.model_id), metadata)
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="yolox_nano.sealed", Body=sealed)
    return "s3://models/yolox_nano.sealed"


SEALING_STEPS = ("read_header", "unwrap_key", "decrypt", "decompress")
LOAD_STEPS = ("fetch", *SEALING_STEPS, "session")  # as ``LoadedModel.timings_ms`` names them
COLD_STEPS = ("imports", *LOAD_STEPS, "first_detection", "cold_start")
KEY_STEPS = (*LOAD_STEPS, "cache_write", "total")
PLAIN = "plain .onnx from disk"


def step_medians(
    section: str, timings: dict[str, list[dict[str, Any]]], steps: Sequence[str]
) -> list[Row]:
    """The median of each step per case, for the steps that every run of the case has."""
    return [
        Row(section, case, f"median {step}", statistics.median(run[step] for run in runs), "ms")
        for case, runs in timings.items()
        for step in steps
        if runs and all(step in run for run in runs)
    ]


def cold_start_section(rounds: int = 5, threads: int = 1) -> list[Row]:
    """Cold starts in fresh processes, the sealed model from the local S3 endpoint (moto's
    server on 127.0.0.1, KMS there too) alternating with the plain ``.onnx`` from a file.

    Also the peak RSS of those processes, after detecting in every image size.
    """
    from detector.local.s3server import LocalAws  # noqa: PLC0415

    model_path = samples.sample_model_path()
    runs: dict[str, list[dict[str, Any]]] = {"sealed, S3 + KMS": [], "plain file": []}
    with tempfile.TemporaryDirectory() as folder, LocalAws() as local:
        images = [paths[0] for paths in bench_images(Path(folder)).values()]
        uri = seal_to_local_s3(local, model_path.read_bytes())
        for index in range(rounds):
            cache = str(Path(folder) / f"cache-{index}")  # empty: every start downloads
            sealed = probe_env(threads, MODEL_URI=uri, MODEL_CACHE_DIR=cache, **local.environ())
            plain = probe_env(threads, MODEL_URI=str(model_path))
            for name, env in (("sealed, S3 + KMS", sealed), ("plain file", plain)):
                runs[name].append(probe(["cold", *map(str, images)], env))
    flat = {name: [{**r["steps"], **r} for r in reports] for name, reports in runs.items()}
    rows = step_medians("cold start", flat, COLD_STEPS)
    sealed_ms, plain_ms = (statistics.median(r["cold_start"] for r in runs[name]) for name in runs)
    # What sealing itself costs, apart from where the bytes come from (S3 or a file).
    opening_ms = statistics.median(
        sum(r["steps"][step] for step in SEALING_STEPS) for r in runs["sealed, S3 + KMS"]
    )
    case = f"{rounds} fresh processes each, {threads} thread(s)"
    rows += [
        Row("cold start", case, "difference of medians sealed - plain", sealed_ms - plain_ms, "ms"),
        Row("cold start", case, "ratio sealed from S3 / plain file", sealed_ms / plain_ms, "x"),
        Row(
            "cold start",
            case,
            "sealing steps (header, unwrap, decrypt, decompress)",
            opening_ms,
            "ms",
        ),
        Row(
            "cold start",
            case,
            "sealing steps / plain cold start",
            opening_ms / plain_ms,
            "x",
            "< 0.10",
        ),
    ]
    for name, reports in runs.items():
        first = max(r["peak_rss_mib_first_detection"] for r in reports)
        every = max(r["peak_rss_mib_all_images"] for r in reports)
        rows += [
            Row("memory", name, "peak RSS, model loaded + 1 detection", first, "MiB", "< 350"),
            Row("memory", name, "peak RSS, after 1080p, 12 MP, PNG too", every, "MiB", "< 350"),
        ]
    return rows


def keys_section(runs: int = 5, threads: int = 1) -> list[Row]:
    """Model loading per key mode and compressor against the plain ``.onnx``, step by step.

    Each cold start is a fresh ``ModelHolder`` in this process, with an empty cache (but
    for the /tmp cache case); the cases take turns in every run. AWS is moto, in process.
    """
    import boto3  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    with mock_aws(), tempfile.TemporaryDirectory() as folder:
        clients = AwsClients(session=boto3.session.Session(region_name="us-east-1"))
        cases = key_cases(clients, threads)
        timings: dict[str, list[dict[str, float]]] = {name: [] for name in cases}

        def cold_start(name: str) -> Callable[[object], object]:
            settings, warm_cache = cases[name]
            return lambda _: timings[name].append(
                load_cold(settings, Path(folder), warm_cache, clients)
            )

        cold_start(PLAIN)(None)  # warm-up: the first session in a process costs more
        timings[PLAIN].clear()
        interleaved([None], [cold_start(name) for name in cases], runs)
    rows = step_medians("keys", timings, KEY_STEPS)
    plain_ms = statistics.median(sample["total"] for sample in timings[PLAIN])
    for name, samples_of in timings.items():
        if name != PLAIN:
            total_ms = statistics.median(sample["total"] for sample in samples_of)
            rows.append(Row("keys", name, "ratio total / plain .onnx", total_ms / plain_ms, "x"))
    return rows


def key_cases(clients: AwsClients, threads: int) -> dict[str, tuple[Settings, bool]]:
    """Per case: the settings of a cold start, and whether its /tmp cache is warm.

    The sample model is sealed under a KMS key, and under a user key kept both in Secrets
    Manager and as an SSM SecureString, and uploaded to (moto's) S3.
    """
    model_path = samples.sample_model_path()
    model = model_path.read_bytes()
    metadata = sample_metadata(model)
    kms_key = clients.kms.create_key(Description="bench")["KeyMetadata"]["Arn"]
    user_key = keys.generate_key()
    encoded = keys.encode_key(user_key)
    clients.secretsmanager.create_secret(Name="model-key", SecretString=encoded)
    clients.ssm.put_parameter(Name="/model-key", Value=encoded, Type="SecureString")
    clients.s3.create_bucket(Bucket="models")

    def uploaded(name: str, compression: Compression, data_key: DataKey) -> str:
        body = seal(model, data_key, metadata, compression=compression)
        clients.s3.put_object(Bucket="models", Key=name, Body=body)
        return f"s3://models/{name}"

    kms_zstd = uploaded(
        "zstd-kms", Compression.ZSTD, keys.kms_data_key(clients.kms, kms_key, metadata.model_id)
    )
    kms_zlib = uploaded(
        "zlib-kms", Compression.ZLIB, keys.kms_data_key(clients.kms, kms_key, metadata.model_id)
    )
    user_zstd = uploaded("zstd-user", Compression.ZSTD, keys.user_data_key(user_key))
    base = Settings.from_env({}, ort_threads=threads)
    return {
        PLAIN: (replace(base, model_uri=str(model_path)), False),
        "sealed zstd, KMS, S3": (replace(base, model_uri=kms_zstd), False),
        "sealed zlib, KMS, S3": (replace(base, model_uri=kms_zlib), False),
        "sealed zstd, KMS, /tmp cache": (replace(base, model_uri=kms_zstd), True),
        "sealed zstd, Secrets Manager, S3": (
            replace(base, model_uri=user_zstd, model_key_secret_id="model-key"),
            False,
        ),
        "sealed zstd, SSM SecureString, S3": (
            replace(base, model_uri=user_zstd, model_key_parameter="/model-key"),
            False,
        ),
    }


def load_cold(
    settings: Settings, folder: Path, warm_cache: bool, clients: AwsClients
) -> dict[str, float]:
    """One cold start's step timings: a new holder, its cache empty unless ``warm_cache``."""
    from detector.model.store import ModelHolder  # noqa: PLC0415

    cache = folder / "warm" if warm_cache else Path(tempfile.mkdtemp(dir=folder))
    configured = replace(settings, model_cache_dir=cache)
    if warm_cache:
        ModelHolder(configured, clients=clients).get()
    return ModelHolder(configured, clients=clients).get().timings_ms


def warm_section(
    rounds: int = 2, threads: Sequence[int] = (1,), samples_per_case: int = WARM_SAMPLES
) -> list[Row]:
    """The real API handler (API event in → response out) against ``session.run`` alone.

    p50/p90/p99 per case, in a fresh process per thread count; the handler, the engine's
    ``detect`` and ``session.run`` are timed in turn on the same input, so the ratios are
    side by side; so is the same request answered with the annotated JPEG instead of
    JSON. Single-image cases are repeated to ``samples_per_case`` (COCO's are cut to it).
    """
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cases = bench_images(Path(folder))
        specs = [
            f"{name}={','.join(map(str, (paths * samples_per_case)[:samples_per_case]))}"
            for name, paths in cases.items()
        ]
        for count in threads:
            env = probe_env(count, MODEL_URI=str(samples.sample_model_path()))
            report = probe(["warm", str(rounds), *specs], env)
            for name, figures in report["cases"].items():
                handler, run = figures["handler_ms"], figures["session_run_ms"]
                engine, drawn = figures["engine_ms"], figures["handler_jpeg_ms"]
                case = f"{name}, {count} thread(s)"
                goal = "<= 1.2" if name.startswith("coco") else ""
                rows += [
                    *(
                        Row("warm", case, f"handler p{q}", percentile(handler, q), "ms")
                        for q in (50, 90, 99)
                    ),
                    Row("warm", case, "handler mean", statistics.fmean(handler), "ms"),
                    *(
                        Row("warm", case, f"session.run p{q}", percentile(run, q), "ms")
                        for q in (50, 90, 99)
                    ),
                    p50_ratio(case, "handler / session.run", handler, run, goal),
                    Row("warm", case, "engine detect p50", percentile(engine, 50), "ms"),
                    p50_ratio(case, "handler / engine detect", handler, engine),
                    Row("warm", case, "handler, JPEG answer p50", percentile(drawn, 50), "ms"),
                    p50_ratio(case, "JPEG answer / JSON answer", drawn, handler),
                ]
    return rows


def p50_ratio(
    case: str, label: str, over: Sequence[float], under: Sequence[float], goal: str = ""
) -> Row:
    """A warm row: the ratio of two p50s measured side by side."""
    ratio = percentile(over, 50) / percentile(under, 50)
    return Row("warm", case, f"ratio p50 {label}", ratio, "x", goal)


def auth_section(rounds: int = 3) -> list[Row]:
    """One bearer-token verification per key type, the types taking turns.

    The JWKS is served on 127.0.0.1 and fetched once before the clock starts: what is
    timed is a verification against the cached key set, as on a warm instance.
    """
    rsa_key, ec_key = tokens.new_rsa_key(), tokens.new_ec_key()
    rsa, ec = tokens.private_pem(rsa_key), tokens.private_pem(ec_key)
    secret = secrets.token_urlsafe(48)
    with serve_jwks([tokens.public_jwk(rsa_key, "rsa-1")]) as server:
        cases = {
            "HS256 secret": (
                Settings(jwt_secret=secret),
                tokens.sign_token(secret, subject="bench", algorithm="HS256"),
            ),
            "RS256 PEM": (
                Settings(jwt_public_key=tokens.public_pem(rsa_key)),
                tokens.sign_token(rsa, subject="bench", algorithm="RS256"),
            ),
            "ES256 PEM": (
                Settings(jwt_public_key=tokens.public_pem(ec_key)),
                tokens.sign_token(ec, subject="bench", algorithm="ES256"),
            ),
            "RS256 JWKS (cached)": (
                Settings(jwt_jwks_url=server.url),
                tokens.sign_token(rsa, subject="bench", algorithm="RS256", key_id="rsa-1"),
            ),
        }
        runs = []
        for settings, token in cases.values():
            verifier = TokenVerifier.from_settings(settings)
            header = f"Bearer {token}"
            verifier.verify(header)  # warm-up: keys parsed, the JWKS fetched
            runs.append(verifying(verifier, header))
        times = interleaved([None], runs, rounds * AUTH_VERIFICATIONS_PER_ROUND)
        if server.fetches != 1:
            raise RuntimeError(f"the JWKS was fetched {server.fetches} times, not once")
    return [
        Row("auth", name, "median per verification", median_ms(taken) * 1000, "µs")
        for name, taken in zip(cases, times, strict=True)
    ]


def verifying(verifier: TokenVerifier, header: str) -> Callable[[object], object]:
    return lambda _: verifier.verify(header)


def sealed_section(
    mib: int = 256, compression: Compression = Compression.ZSTD, level: int = 1
) -> list[Row]:
    """Seal and open ``mib`` MiB of random bytes: times, throughput, peak allocation.

    Random bytes stand in for a model's weights (float weights barely compress either);
    no session is built, random bytes are not a model. The allocation peak while opening
    is traced against the payload's size: the plaintext itself is the least it can be.
    """
    payload = os.urandom(mib * MIB)
    key = keys.user_data_key(keys.generate_key())
    metadata = ModelMetadata("yolox", (640, 640), (), "throughput")
    started = time.perf_counter()
    sealed = seal(payload, key, metadata, compression=compression, level=level)
    seal_s = time.perf_counter() - started
    header = read_header(sealed)
    steps: dict[str, float] = {}
    tracemalloc.start()
    try:
        opened = open_sealed(sealed, lambda _: key.plaintext, timings_ms=steps)
        _, open_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    if opened != payload:
        raise RuntimeError("the opened payload differs from the sealed one")
    open_s = sum(steps.values()) / 1000
    case = (
        f"{mib} MiB random, {compression.name.lower()} level {level}, "
        f"{header.chunk_count} chunk(s) of {header.chunk_size // MIB} MiB"
    )
    return [
        Row("sealed", case, "seal", seal_s * 1000, "ms"),
        Row("sealed", case, "seal throughput", mib / seal_s, "MiB/s"),
        Row("sealed", case, "open", open_s * 1000, "ms"),
        Row("sealed", case, "open throughput", mib / open_s, "MiB/s"),
        # The header and the key (given here, not fetched) take microseconds: not shown.
        *(
            Row("sealed", case, f"  open step: {step}", steps[step], "ms")
            for step in ("decrypt", "decompress")
        ),
        Row("sealed", case, "allocated at peak while opening", open_peak / MIB, "MiB"),
        Row("sealed", case, "peak allocation / payload", open_peak / (mib * MIB), "x"),
    ]


def cost_section(rows: Sequence[Row]) -> list[Row]:
    """USD per million images at 1769 MB (one vCPU) from the one-thread warm mean, plus
    what one cold start costs (Lambda bills the init phase too)."""
    warm = [
        r
        for r in rows
        if r.section == "warm" and r.measured == "handler mean" and r.case.endswith(", 1 thread(s)")
    ]
    cold = [
        r
        for r in rows
        if r.section == "cold start"
        and r.case == "sealed, S3 + KMS"
        and r.measured == "median cold_start"
    ]
    gigabytes = LAMBDA_MEMORY_MB / 1024
    out = []
    for architecture, per_gb_second in LAMBDA_PRICE_PER_GB_SECOND.items():
        for row in warm:
            duration_s = row.value / 1000
            per_million = (
                1e6 * (duration_s * gigabytes * per_gb_second) + LAMBDA_PRICE_PER_MILLION_REQUESTS
            )
            out.append(
                Row(
                    "cost",
                    f"{architecture}, {row.case.removesuffix(', 1 thread(s)')}",
                    "USD per million images",
                    per_million,
                    "USD",
                )
            )
        for row in cold:
            out.append(
                Row(
                    "cost",
                    f"{architecture}, one cold start",
                    "USD per thousand cold starts",
                    1000 * row.value / 1000 * gigabytes * per_gb_second,
                    "USD",
                )
            )
    return out


def bench_site() -> Path:
    """``build/bench-site`` holding ``requirements-bench.txt``, installed there once.

    ``pip install --target`` with ``--no-deps``: the packages' own dependencies (numpy,
    cffi) are the project environment's, so nothing there is shadowed.
    """
    requirements = BENCH_REQUIREMENTS.read_bytes()
    marker = BENCH_SITE / f".installed-{hashlib.sha256(requirements).hexdigest()[:16]}"
    if not marker.exists():
        shutil.rmtree(BENCH_SITE, ignore_errors=True)
        pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"]
        subprocess.run(
            [*pip, "--target", str(BENCH_SITE), "-r", str(BENCH_REQUIREMENTS)], check=True
        )
        marker.touch()
    return BENCH_SITE


def preprocess_section(rounds: int = 3, images: int = 0) -> list[Row]:
    """Candidates for decode + resize + fill, in a process with ``build/bench-site``."""
    site = bench_site()
    script = REPO / "benchmarks" / "preprocess_candidates.py"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), str(REPO)])}
    with tempfile.TemporaryDirectory() as folder:
        big = twelve_megapixel_jpeg(samples.sample_image_path(), Path(folder))
        done = subprocess.run(
            [sys.executable, str(script), str(rounds), str(images), str(big)],
            env=env,
            capture_output=True,
            text=True,
            timeout=PROBE_TIMEOUT_S * 2,
            check=False,
        )
    if done.returncode != 0:
        raise RuntimeError(f"preprocess candidates failed:\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    rows = []
    for key, case in (("coco", f"coco-val64 ({report['images']} JPEGs)"), ("big", "12 MP JPEG")):
        figures = report[key]
        ours = next(iter(figures.values()))["cpu_ms"]
        for name, times in figures.items():
            rows += [
                Row("preprocess", f"{case}: {name}", "CPU median", times["cpu_ms"], "ms"),
                Row("preprocess", f"{case}: {name}", "wall median", times["wall_ms"], "ms"),
                Row("preprocess", f"{case}: {name}", "CPU / ours", times["cpu_ms"] / ours, "x"),
            ]
    for name, scores in report["accuracy"].items():  # in percent: the table prints 2 decimals
        case = f"accuracy: {name}"
        rows += [
            Row("preprocess", case, "mAP@[.5:.95]", scores["map"] * 100, "%", ">= 34.50"),
            Row("preprocess", case, "photo's car score", scores["photo_car"] * 100, "%", ">= 80"),
        ]
    return rows


def runtime_section(rounds: int = 3, images: int | None = None) -> list[Row]:
    """Our API handler against the bare OpenCV floor, each under ``python -m awslambdaric``.

    Two runtimes, each with its Runtime API on 127.0.0.1, take turns on the same COCO API
    events (the first of each pair alternates); a request's time runs from the runtime
    receiving the event to its answer arriving, as Lambda bills it, and its CPU time is
    what the function's process used meanwhile. Both use one thread
    and a session built the same way, so the difference is the work around ``session.run``.
    """
    site = bench_site()
    model = samples.sample_model_path()
    paths = sorted((samples.coco_dir() / "images").glob("*.jpg"))[:images]
    token = tokens.sign_token(BENCH_SECRET, subject="bench", scope="detect")
    events = [
        api_event(
            "http", "POST", "/detect", body=p.read_bytes(), content_type="image/jpeg", token=token
        )
        for p in paths
    ]
    path = os.pathsep.join([str(site), str(REPO), str(REPO / "function")])
    ours_env = {"MODEL_URI": str(model), "JWT_SECRET": BENCH_SECRET, "ORT_THREADS": "1"}
    floor_env = {"FLOOR_MODEL": str(model), "PYTHONPATH": path}
    timed: dict[str, list[float]] = {"ours": [], "floor": []}
    cpu: dict[str, list[float]] = {"ours": [], "floor": []}
    steps: dict[str, dict[str, list[float]]] = {"ours": {}, "floor": {}}
    with (
        RuntimeApi() as ours_api,
        RuntimeApi() as floor_api,
        LambdaProcess.start(
            "detector.handlers.api.lambda_handler", ours_api, env=ours_env, task_root=REPO
        ) as ours,
        LambdaProcess.start(
            "benchmarks.opencv_floor.handler", floor_api, env=floor_env, task_root=REPO
        ) as floor,
    ):
        functions = {"ours": ours, "floor": floor}
        for event in events[:3]:  # warm-up: the first call loads the model
            for function in functions.values():
                _answer(function, event)
        for round_index in range(rounds):
            for index, event in enumerate(events):
                order = ("ours", "floor") if (index + round_index) % 2 == 0 else ("floor", "ours")
                for name in order:
                    used = cpu_seconds(functions[name].popen.pid)
                    invocation, body = _answer(functions[name], event)
                    cpu[name].append(cpu_seconds(functions[name].popen.pid) - used)
                    assert invocation.delivered_at and invocation.answered_at
                    timed[name].append(invocation.answered_at - invocation.delivered_at)
                    for step, ms in body["timing_ms"].items():
                        steps[name].setdefault(step, []).append(ms)
    case = f"coco-val64 ({len(events)} JPEGs), 1 thread, through awslambdaric"
    ours_ms, floor_ms = median_ms(timed["ours"]), median_ms(timed["floor"])

    def outside(name: str, inside: Sequence[str]) -> float:
        """Median of each request's time less the steps ``inside``, in ms."""
        return statistics.median(
            seconds * 1000 - sum(steps[name][step][index] for step in inside)
            for index, seconds in enumerate(timed[name])
        )

    around = {name: outside(name, ["inference"]) for name in timed}
    engine_steps = ["decode", "preprocess", "inference", "postprocess"]
    return [
        Row("runtime", case, "handler median", ours_ms, "ms"),
        Row("runtime", case, "bare OpenCV floor median", floor_ms, "ms"),
        Row("runtime", case, "ratio handler / floor", ours_ms / floor_ms, "x", "<= 1.0"),
        Row("runtime", case, "handler CPU time per request median", median_ms(cpu["ours"]), "ms"),
        Row("runtime", case, "floor CPU time per request median", median_ms(cpu["floor"]), "ms"),
        Row(
            "runtime",
            case,
            "ratio of CPU time handler / floor",
            median_ms(cpu["ours"]) / median_ms(cpu["floor"]),
            "x",
            "<= 1.0",
        ),
        *(
            Row("runtime", case, f"  handler step median: {step}", statistics.median(v), "ms")
            for step, v in steps["ours"].items()
            if step != "total"
        ),
        Row(
            "runtime",
            case,
            "  handler outside the engine (auth, parsing, answer, metrics, runtime client)",
            outside("ours", engine_steps),
            "ms",
        ),
        *(
            Row("runtime", case, f"  floor step median: {step}", statistics.median(v), "ms")
            for step, v in steps["floor"].items()
            if step != "total"
        ),
        Row(
            "runtime",
            case,
            "  floor outside its steps (runtime client)",
            outside("floor", ["body", "decode", "preprocess", "inference"]),
            "ms",
        ),
        Row("runtime", case, "handler minus its session.run, median", around["ours"], "ms"),
        Row("runtime", case, "floor minus its session.run, median", around["floor"], "ms"),
        Row(
            "runtime",
            case,
            "ratio of the work around session.run",
            around["ours"] / around["floor"],
            "x",
        ),
    ]


def cpu_seconds(pid: int) -> float:
    """CPU time used so far by every thread of process ``pid`` (Linux ``schedstat``, ns).

    On a shared machine a neighbour's load stretches wall times, and not evenly: the
    scheduler favours the process that used less CPU. CPU time is what a request costs
    where it has its CPU to itself, as on Lambda.
    """
    tasks = Path(f"/proc/{pid}/task")
    return sum(int((task / "schedstat").read_text().split()[0]) for task in tasks.iterdir()) / 1e9


def _answer(function: LambdaProcess, event: dict[str, Any]) -> tuple[Invocation, dict[str, Any]]:
    """Invoke; the answer's body, which must be a 200 with the handler's step times."""
    invocation = function.invoke(event)
    answer = invocation.json()
    if invocation.outcome != "response" or answer.get("statusCode") != 200:
        raise RuntimeError(f"the function failed: {answer}\n{function.output()[-3000:]}")
    body: dict[str, Any] = json.loads(answer["body"])
    return invocation, body


def hostile_images(pixels: int, sample: Path, folder: Path) -> dict[str, tuple[bytes, str]]:
    """name -> (image bytes, expected outcome): the worst we found for decode time and memory
    at ``pixels`` (square) under the default limits, normal photos, and two refusals."""
    from tests.functional import hostile  # noqa: PLC0415 - the corpus the tests use too

    side = math.isqrt(pixels)
    limits = ImageLimits()
    with Image.open(sample) as image:
        photo = image.convert("RGB").resize((side, side), Image.Resampling.BICUBIC)
    progressive = hostile.encoded(photo, "JPEG", quality=90, progressive=True)
    del photo
    frame = Image.new("RGB", (side, side))
    at = f"{side}x{side}"
    decoded, too_large = "decoded", "refused: too_large"
    return {
        "normal: 12 MP JPEG (4000x3000)": (
            twelve_megapixel_jpeg(sample, folder).read_bytes(),
            decoded,
        ),
        f"normal: progressive JPEG photo {at}, {hostile.scans(progressive)} scans": (
            progressive,
            decoded,
        ),
        f"time: progressive JPEG {at}, DC scan repeated to {limits.jpeg_scans} scans": (
            hostile.progressive_jpeg(side, side, total_scans=limits.jpeg_scans),
            decoded,
        ),
        f"time: interlaced 16-bit RGBA PNG {at}": (
            hostile.flat_png(side, side, bit_depth=16, colour_type=6, interlaced=True),
            decoded,
        ),
        f"time: lossless WebP {at}": (hostile.encoded(frame, "WEBP", lossless=True), decoded),
        f"memory: animated WebP {at} (first of 2 frames)": (
            hostile.encoded(frame, "WEBP", save_all=True, append_images=[frame], quality=10),
            decoded,
        ),
        f"memory: progressive CMYK JPEG {at}": (
            hostile.progressive_jpeg(side, side, total_scans=limits.jpeg_scans, mode="CMYK"),
            decoded,
        ),
        f"memory: 16-bit greyscale PNG {at}": (
            hostile.flat_png(side, side, bit_depth=16, colour_type=0),
            decoded,
        ),
        f"refused: progressive JPEG {at}, last scan repeated to 10,000 scans": (
            hostile.progressive_jpeg(side, side, total_scans=10_000, repeating=-1),
            too_large,
        ),
        f"refused: PNG {at} with 100,000 text chunks": (
            hostile.png_inserted(
                hostile.flat_png(side, side), hostile.png_chunk(b"tEXt", b"k\x00v") * 100_000
            ),
            too_large,
        ),
    }


def hostile_section(pixels: int) -> list[Row]:
    """Decode time and peak RSS growth of each of ``hostile_images``, one fresh process each.

    A bound, not a speed: what the worst image that passes the checks costs, against what a
    normal photo costs, on this machine.
    """
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cases = hostile_images(pixels, samples.sample_image_path(), Path(folder))
        for index, (case, (data, expected)) in enumerate(cases.items()):
            path = Path(folder) / f"{index}.img"
            path.write_bytes(data)
            report = probe(["decode", str(path)], probe_env(1))
            if not report["outcome"].startswith(expected):
                raise RuntimeError(f"{case}: {report['outcome']}, expected {expected}")
            with Image.open(io.BytesIO(data)) as image:
                rgb_mib = image.width * image.height * 3 / MIB
            growth = report["peak_rss_growth_mib"]
            rows += [
                Row("hostile", case, "file size", len(data) / MIB, "MiB"),
                Row("hostile", case, "decode time", report["decode_ms"], "ms"),
                Row("hostile", case, "peak RSS growth", growth, "MiB"),
                Row("hostile", case, "peak RSS growth / RGB size", growth / rgb_mib, "x"),
            ]
    return rows


def backfill_section(
    images: int | None = None, threads: int | None = None, rounds: int = 3
) -> list[Row]:
    """``detector backfill --local`` over the COCO JPEGs (the first ``images`` of them).

    First the command's own run (``run_local``: the handler cold, then every image once).
    Then the warm handler, one Batch Operations event per image, interleaved image by image
    with the engine alone on the same bytes (same threads): what the event, the S3 read
    and the result write on the local endpoint, the logs and the metrics add to detection.
    """
    from detector.local.s3server import LocalAws  # noqa: PLC0415

    photos = sorted((samples.coco_dir() / "images").glob("*.jpg"))[:images]
    bodies = {f"coco/{photo.name}": photo.read_bytes() for photo in photos}
    threads_used = threads or cpu_count()
    detector = Detector.from_bytes(samples.sample_model_path().read_bytes(), threads=threads_used)
    with LocalAws() as local, local.activated(), environment({"ORT_THREADS": str(threads_used)}):
        s3 = local.client("s3")
        s3.create_bucket(Bucket="bench-backfill")
        for key, body in bodies.items():
            s3.put_object(Bucket="bench-backfill", Key=key, Body=body)
        summary = backfill.run_local("s3://bench-backfill/coco/", options={})
        if summary.failed or summary.processed != len(photos):
            raise RuntimeError(f"backfill: {summary.describe()}")
        with backfill.local_function("bench-backfill") as invoke:
            for key in list(bodies)[:3]:  # warm-up: the model loads, first runs allocate
                invoke(key, {})
                detector.detect(bodies[key])
            task, engine = interleaved(
                list(bodies),
                (lambda key: invoke(str(key), {}), lambda key: detector.detect(bodies[str(key)])),
                rounds,
            )
    case = f"coco-val64 ({len(photos)} JPEGs), {threads_used} thread(s)"
    task_ms, engine_ms = median_ms(task), median_ms(engine)
    return [
        Row("backfill", case, "images/s, the command's run", summary.images_per_second, "img/s"),
        Row("backfill", case, "first image (cold start)", summary.task_seconds[0] * 1000, "ms"),
        Row("backfill", case, "warm image median", task_ms, "ms"),
        Row("backfill", case, "images/s, warm median", 1000 / task_ms, "img/s"),
        Row("backfill", case, "engine alone median, same images", engine_ms, "ms"),
        Row("backfill", case, "ratio warm image / engine alone", task_ms / engine_ms, "x"),
    ]


SECTIONS: dict[str, Callable[[argparse.Namespace, list[Row]], list[Row]]] = {
    "engine": lambda args, _: engine_section(rounds=args.rounds, threads=args.threads),
    "threads": lambda args, _: threads_section(rounds=args.rounds),
    "cold": lambda args, _: cold_start_section(rounds=args.cold_starts, threads=args.threads or 1),
    "keys": lambda args, _: keys_section(runs=args.cold_starts, threads=args.threads or 1),
    "warm": lambda args, _: warm_section(
        rounds=args.rounds,
        threads=[args.threads] if args.threads else sorted({1, cpu_count()}),
        samples_per_case=args.warm_samples,
    ),
    "auth": lambda args, _: auth_section(rounds=args.rounds),
    "sealed": lambda args, _: sealed_section(mib=args.mib),
    "cost": lambda _, rows: cost_section(rows),
    "preprocess": lambda args, _: preprocess_section(
        rounds=args.rounds, images=args.preprocess_images
    ),
    "runtime": lambda args, _: runtime_section(rounds=args.rounds, images=args.runtime_images),
    "hostile": lambda args, _: hostile_section(pixels=args.pixels),
    "backfill": lambda args, _: backfill_section(
        images=args.images, threads=args.threads, rounds=args.rounds
    ),
    "imports": lambda args, _: coldstart.imports_section(rounds=args.cold_starts),
    "coldstart": lambda args, _: coldstart.cold_start_section(rounds=args.cold_starts),
    "snapstart": lambda args, _: coldstart.snapstart_section(
        rounds=args.cold_starts, warm_samples=max(1, args.warm_samples // 4)
    ),
}


def print_table(rows: Sequence[Row]) -> None:
    header = ("section", "case", "measured", "value", "goal")
    table = [header] + [
        (r.section, r.case, r.measured, f"{r.value:.2f} {r.unit}", r.goal) for r in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(header))]
    for line in table:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"any of {list(SECTIONS)}")
    parser.add_argument("--rounds", type=int, default=3, help="passes over the images")
    parser.add_argument(
        "--cold-starts",
        type=int,
        default=5,
        help="cold starts per variant (cold: fresh processes; keys: fresh model holders; "
        "imports, coldstart, snapstart: rounds of fresh processes)",
    )
    parser.add_argument(
        "--warm-samples",
        type=int,
        default=WARM_SAMPLES,
        help="warm: images per case and round (snapstart: a quarter as many detections)",
    )
    parser.add_argument("--mib", type=int, default=256, help="sealed: payload size in MiB")
    parser.add_argument("--images", type=int, help="backfill: the first N COCO images (all 64)")
    parser.add_argument(
        "--preprocess-images", type=int, default=0, help="preprocess: the first N COCO (all)"
    )
    parser.add_argument(
        "--runtime-images", type=int, help="runtime: the first this many COCO images (all)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        help="onnxruntime threads (default: the CPUs for engine, 1 for cold and keys, "
        "1 and the CPUs for warm)",
    )
    parser.add_argument(
        "--pixels",
        type=int,
        default=ImageLimits().pixels,
        help="hostile: size of the worst images, in pixels (default: the pixel cap)",
    )
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench.json")
    args = parser.parse_intermixed_args(argv)
    unknown = set(args.sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections {sorted(unknown)}; known: {list(SECTIONS)}")
    rows: list[Row] = []
    for name in args.sections or SECTIONS:
        rows += SECTIONS[name](args, rows)
    print_table(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps({"prices": PRICES_NOTE, "rows": [asdict(row) for row in rows]}, indent=2)
    )
    print(f"\n{PRICES_NOTE}\nwritten: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
