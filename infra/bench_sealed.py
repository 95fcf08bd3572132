"""Seal and open a large payload: per-step times, throughput and peak memory.

    python infra/bench_sealed.py --mib 2200

Random bytes stand in for a model's weights (float weights barely compress either), so
this shows the format well past the 2 GiB a single AES-GCM call can take. No session is
built: random bytes are not a model.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "function"))

from detector import keys  # noqa: E402
from detector.artifact import Compression, ModelMetadata, open_sealed, read_header, seal  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="payload size in MiB")
    parser.add_argument("--compression", choices=["zstd", "zlib"], default="zstd")
    parser.add_argument("--level", type=int, default=1)
    args = parser.parse_args()
    payload = os.urandom(args.mib << 20)
    key = keys.user_data_key(keys.generate_key())
    metadata = ModelMetadata("yolox", (640, 640), (), "throughput")
    started = time.perf_counter()
    sealed = seal(
        payload, key, metadata, compression=Compression[args.compression.upper()], level=args.level
    )
    seal_s = time.perf_counter() - started
    header = read_header(sealed)
    timings: dict[str, float] = {}
    tracemalloc.start()
    opened = open_sealed(sealed, lambda _: key.plaintext, timings_ms=timings)
    _, open_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert opened == payload
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20)
    open_s = sum(timings.values()) / 1000
    print(
        f"payload {args.mib} MiB, {args.compression} level {args.level}, "
        f"{header.chunk_count} chunks of {header.chunk_size >> 20} MiB"
    )
    print(
        f"seal {seal_s:.2f} s ({args.mib / seal_s:.0f} MiB/s); open {open_s:.2f} s "
        f"({args.mib / open_s:.0f} MiB/s)"
    )
    print(
        f"allocated while opening: {open_peak / (1 << 20):.0f} MiB at peak (the model is "
        f"{args.mib} MiB); process peak RSS {peak_gib:.2f} GiB (sealing dominates)"
    )
    print("open steps (ms): " + ", ".join(f"{step} {ms:.0f}" for step, ms in timings.items()))


if __name__ == "__main__":
    main()
