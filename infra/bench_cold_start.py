"""Cold-start cost of a sealed model, step by step, printed as a table of medians (ms).

    python infra/bench_cold_start.py [--model PATH] [--runs 5]

Seals the model (a KMS data key, or a user key kept in Secrets Manager), puts it in an
in-process moto S3, and starts a fresh ``ModelHolder`` per run: each run is one cold start.
The plain ``.onnx`` read from disk is measured in the same run, as the baseline. moto
answers in-process, so "fetch" here is a memory copy, not a network transfer.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "function"))

from moto import mock_aws  # noqa: E402

from detector import keys  # noqa: E402
from detector.artifact import Compression, seal  # noqa: E402
from detector.aws import AwsClients  # noqa: E402
from detector.local.samples import coco_dir, sample_model_path  # noqa: E402
from detector.model_store import ModelHolder  # noqa: E402
from detector.sealing import describe_model  # noqa: E402
from detector.settings import Settings  # noqa: E402

STEPS = (
    "fetch",
    "read_header",
    "unwrap_key",
    "decrypt",
    "decompress",
    "session",
    "cache_write",
    "total",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads")
    args = parser.parse_args()
    model_path = args.model or sample_model_path()
    for name, value in {
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        os.environ[name] = value
    with mock_aws(), tempfile.TemporaryDirectory() as scratch:
        rows = measure(model_path, Path(scratch), args.runs, args.threads)
    print(f"model {model_path} ({model_path.stat().st_size} bytes), {args.runs} cold starts each,")
    print(f"onnxruntime threads={args.threads}, median ms per step")
    print(f"{'scenario':34}" + "".join(f"{step:>12}" for step in STEPS))
    for scenario, timings in rows.items():
        cells = "".join(
            f"{timings[step]:12.1f}" if step in timings else f"{'-':>12}" for step in STEPS
        )
        print(f"{scenario:34}{cells}")


def measure(
    model_path: Path, scratch: Path, runs: int, threads: int
) -> dict[str, dict[str, float]]:
    clients = AwsClients()
    clients.s3.create_bucket(Bucket="models")
    kms_key = clients.kms.create_key()["KeyMetadata"]["Arn"]
    model = model_path.read_bytes()
    metadata = describe_model(
        model,
        names_file=coco_dir() / "names.txt",
        family=None,
        model_id="bench",
        default_id="bench",
    )
    user_key = keys.generate_key()
    clients.secretsmanager.create_secret(Name="model-key", SecretString=keys.encode_key(user_key))
    base = Settings.from_env({}, ort_threads=threads)

    def sealed_in_s3(name: str, compression: Compression, kms: bool) -> Settings:
        data_key = (
            keys.kms_data_key(clients.kms, kms_key, metadata.model_id)
            if kms
            else keys.user_data_key(user_key)
        )
        body = seal(model, data_key, metadata, compression=compression)
        clients.s3.put_object(Bucket="models", Key=name, Body=body)
        secret = None if kms else "model-key"
        return replace(base, model_uri=f"s3://models/{name}", model_key_secret_id=secret)

    scenarios: dict[str, tuple[Settings, bool]] = {
        "plain .onnx from disk": (replace(base, model_uri=str(model_path)), False),
        "sealed zstd, KMS, S3": (sealed_in_s3("zstd-kms", Compression.ZSTD, True), False),
        "sealed zlib, KMS, S3": (sealed_in_s3("zlib-kms", Compression.ZLIB, True), False),
        "sealed zstd, KMS, /tmp cache": (sealed_in_s3("zstd-kms", Compression.ZSTD, True), True),
        "sealed zstd, Secrets Manager, S3": (
            sealed_in_s3("zstd-user", Compression.ZSTD, False),
            False,
        ),
    }
    # Interleaved, scenario after scenario in every round: the machine is shared and noisy.
    cold_start(scenarios["plain .onnx from disk"][0], scratch, False, clients)  # warm-up
    samples: dict[str, list[dict[str, float]]] = {scenario: [] for scenario in scenarios}
    for _ in range(runs):
        for scenario, (settings, warm_cache) in scenarios.items():
            samples[scenario].append(cold_start(settings, scratch, warm_cache, clients))
    return {scenario: medians(runs_of) for scenario, runs_of in samples.items()}


def cold_start(
    settings: Settings, scratch: Path, warm_cache: bool, clients: AwsClients
) -> dict[str, float]:
    """One cold start: a new holder, and a cache that is empty unless ``warm_cache``."""
    cache = scratch / "warm" if warm_cache else Path(tempfile.mkdtemp(dir=scratch))
    configured = replace(settings, model_cache_dir=cache)
    if warm_cache:
        ModelHolder(configured, clients=clients).get()
    return ModelHolder(configured, clients=clients).get().timings_ms


def medians(samples: list[dict[str, float]]) -> dict[str, float]:
    steps = [step for step in STEPS if any(step in sample for sample in samples)]
    return {step: statistics.median(s[step] for s in samples if step in s) for step in steps}


if __name__ == "__main__":
    sys.exit(main())
