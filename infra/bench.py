"""Benchmarks that print figures: run ``python infra/bench.py`` from the repository root.

Each section is one function returning rows (``Row``); ``main`` runs the sections asked
for, prints one table and writes every row to a JSON file. Ratios are always measured side
by side in one run, interleaved image by image, because the machine is shared and noisy:
two figures taken minutes apart say little about each other.

Sections:
- ``engine``: median end-to-end time per image (bytes in → detections out) against the
  median bare ``session.run`` on the same images, on the COCO sample images and on a
  12-megapixel JPEG made by upscaling a sample (in a temporary folder, never kept).
- ``threads``: the engine with one onnxruntime thread against all CPUs, interleaved.
- ``cold``: cold starts in fresh processes (``bench_probe.py``): imports, fetch from the
  local S3 endpoint (moto's server on 127.0.0.1), key unwrap (KMS there), decrypt,
  decompress, session, first detection; the plain ``.onnx`` from a file alternating with
  it as the baseline. Also the peak RSS of those processes (``memory`` rows).
- ``warm``: the real API handler, API event in → response out, p50/p90/p99 on COCO JPEGs,
  1920x1080 and 12 MP JPEGs and a PNG, against the engine alone and ``session.run`` alone,
  with one thread and with all CPUs (a fresh process each).
- ``cost``: USD per million images at 1769 MB, x86_64 and arm64, from the warm means.

    python infra/bench.py                      # everything (about 10 minutes on 2 CPUs)
    python infra/bench.py cold warm cost --cold-starts 3 --rounds 1 --out build/b.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "function"))
sys.path.insert(0, str(REPO / "infra"))

import bench_probe  # noqa: E402
from PIL import Image  # noqa: E402

from detector import imageio, preprocess  # noqa: E402
from detector.engine import Detector, cpu_count  # noqa: E402
from detector.local import samples  # noqa: E402

TWELVE_MP = (4000, 3000)
PROBE = Path(bench_probe.__file__)
PROBE_TIMEOUT_S = 600
WARM_SAMPLES = 64  # per case and round: single images are repeated to this many
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
    cases: Sequence[object],
    first: Callable[[object], None],
    second: Callable[[object], None],
    rounds: int,
) -> tuple[list[float], list[float]]:
    """Time ``first(case)`` and ``second(case)`` alternately on every case, ``rounds`` times."""
    times_first: list[float] = []
    times_second: list[float] = []
    for _ in range(rounds):
        for case in cases:
            for run, times in ((first, times_first), (second, times_second)):
                start = time.perf_counter()
                run(case)
                times.append(time.perf_counter() - start)
    return times_first, times_second


def _engine_pair(
    detector: Detector, images: Sequence[bytes], rounds: int, case: str, goal: str
) -> list[Row]:
    """End-to-end ``detect`` against bare ``session.run`` on the same images.

    Also reports the engine's own per-stage medians, which say where the overhead goes.
    """
    tensors = {}
    for data in images:
        decoded = imageio.decode(data, max_pixels=10**9)
        tensors[id(data)] = preprocess.letterbox(
            decoded, detector.info.input_size, detector.family.recipe
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
    e2e, run = interleaved(images, end_to_end, session_run, rounds)
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
    one, many = interleaved(coco, single.detect, every.detect, rounds)  # type: ignore[arg-type]
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
    made = {}
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


def seal_to_local_s3(local: Any, model: bytes) -> str:
    """Seal ``model`` under a fresh KMS key on the local endpoint, upload it: its URI."""
    from detector import keys  # noqa: PLC0415
    from detector.artifact import ModelMetadata, seal  # noqa: PLC0415
    from detector.engine import inspect_model  # noqa: PLC0415
    from detector.families import parse_names  # noqa: PLC0415

    info = inspect_model(model)
    names = parse_names(samples.sample_names_path().read_text())
    metadata = ModelMetadata(info.family, info.input_size, names, "yolox-nano-bench")
    kms, s3 = local.client("kms"), local.client("s3")
    key_id = kms.create_key(Description="bench")["KeyMetadata"]["Arn"]
    sealed = seal(model, keys.kms_data_key(kms, key_id, metadata.model_id), metadata)
    s3.create_bucket(Bucket="models")
    s3.put_object(Bucket="models", Key="yolox_nano.sealed", Body=sealed)
    return "s3://models/yolox_nano.sealed"


COLD_STEPS = (
    "imports",
    "fetch",
    "read_header",
    "unwrap_key",
    "decrypt",
    "decompress",
    "session",
    "first_detection",
    "cold_start",
)


SEALING_STEPS = ("read_header", "unwrap_key", "decrypt", "decompress")


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
    rows = []
    for name, reports in runs.items():
        for step in COLD_STEPS:
            values = [r[step] if step in r else r["steps"].get(step) for r in reports]
            if None not in values:
                rows.append(
                    Row("cold start", name, f"median {step}", statistics.median(values), "ms")
                )
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


def percentile(values: Sequence[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def warm_section(rounds: int = 2, threads: Sequence[int] = (1,)) -> list[Row]:
    """The real API handler (API event in → response out) against ``session.run`` alone.

    p50/p90/p99 per case, in a fresh process per thread count; the handler, the engine's
    ``detect`` and ``session.run`` are timed in turn on the same input, so the ratios are
    side by side. Single-image cases are repeated to have as many samples as COCO.
    """
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        cases = bench_images(Path(folder))
        specs = [
            f"{name}={','.join(map(str, paths * max(1, WARM_SAMPLES // len(paths))))}"
            for name, paths in cases.items()
        ]
        for count in threads:
            env = probe_env(count, MODEL_URI=str(samples.sample_model_path()))
            report = probe(["warm", str(rounds), *specs], env)
            for name, figures in report["cases"].items():
                handler, run = figures["handler_ms"], figures["session_run_ms"]
                engine = figures["engine_ms"]
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
                    Row(
                        "warm",
                        case,
                        "ratio p50 handler / session.run",
                        percentile(handler, 50) / percentile(run, 50),
                        "x",
                        goal,
                    ),
                    Row("warm", case, "engine detect p50", percentile(engine, 50), "ms"),
                    Row(
                        "warm",
                        case,
                        "ratio p50 handler / engine detect",
                        percentile(handler, 50) / percentile(engine, 50),
                        "x",
                    ),
                ]
    return rows


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


SECTIONS: dict[str, Callable[[argparse.Namespace, list[Row]], list[Row]]] = {
    "engine": lambda args, _: engine_section(rounds=args.rounds, threads=args.threads),
    "threads": lambda args, _: threads_section(rounds=args.rounds),
    "cold": lambda args, _: cold_start_section(rounds=args.cold_starts, threads=args.threads or 1),
    "warm": lambda args, _: warm_section(rounds=args.rounds, threads=sorted({1, cpu_count()})),
    "cost": lambda _, rows: cost_section(rows),
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
    parser.add_argument("--cold-starts", type=int, default=5, help="fresh processes per variant")
    parser.add_argument("--threads", type=int, help="onnxruntime threads (default: the CPUs)")
    parser.add_argument("--out", type=Path, default=REPO / "build" / "bench.json")
    args = parser.parse_args(argv)
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
