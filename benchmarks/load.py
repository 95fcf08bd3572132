"""Load test of the local API (loopback only): ``python -m benchmarks.load [--requests 2000]``.

Starts ``detector serve`` on a free 127.0.0.1 port (or uses ``--url``, which must be
``http://127.0.0.1:PORT``), records one reference response per image with single requests,
then sends ``--requests`` detection requests from ``--concurrency`` client processes.
Every response must be a 200 with the same detections as the reference. Prints the error
count, the mismatches and the latency percentiles; exits non-zero on any error or mismatch.
Bounded: it stops after the requests are sent or after ``--max-seconds``, whichever first.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from benchmarks.stats import percentile
from detector.local import samples
from detector.local.tokens import sign_token

REPO = Path(__file__).resolve().parents[1]

LOOPBACK = "127.0.0.1"
LOAD_SECRET = "load-test-only-secret-" + "0" * 32  # the served handler's local JWT secret
SERVER_START_TIMEOUT_S = 120
REQUEST_TIMEOUT_S = 60
BOX_TOLERANCE_PX = 0.01
SCORE_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Target:
    url: str
    token: str


@dataclass
class Outcome:
    """What the client processes saw."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    not_sent: int = 0

    def add(self, other: Outcome) -> None:
        self.latencies_ms += other.latencies_ms
        self.errors += other.errors
        self.mismatches += other.mismatches
        self.not_sent += other.not_sent


def loopback_url(url: str) -> str:
    """``url`` without a trailing slash; refuses anything but ``http://127.0.0.1:PORT``."""
    parts = urlsplit(url)
    if parts.scheme != "http" or parts.hostname != LOOPBACK or parts.port is None:
        raise ValueError(f"only http://{LOOPBACK}:PORT is allowed, not {url!r}")
    return f"http://{LOOPBACK}:{parts.port}"


def load_images(count: int) -> list[tuple[str, bytes]]:
    """The sample photo and the first COCO images: ``count`` in all."""
    paths = [samples.sample_image_path()]
    paths += sorted((samples.coco_dir() / "images").glob("*.jpg"))[: max(0, count - 1)]
    return [(path.name, path.read_bytes()) for path in paths]


def detect(target: Target, image: bytes) -> tuple[int, dict[str, Any], float]:
    """POST one JPEG to /detect: status, JSON body, latency in ms."""
    request = urllib.request.Request(
        f"{target.url}/detect",
        data=image,
        method="POST",
        headers={"Authorization": f"Bearer {target.token}", "Content-Type": "image/jpeg"},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT_S) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    elapsed = (time.perf_counter() - started) * 1000
    try:
        body = json.loads(raw)
    except ValueError:
        body = {"unparsed": raw[:200].decode(errors="replace")}
    return status, body, elapsed


def difference(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> str | None:
    """Why two detection lists differ, or None when they are the same detections."""
    if len(expected) != len(got):
        return f"{len(got)} detections instead of {len(expected)}"
    for index, (a, b) in enumerate(zip(expected, got, strict=True)):
        if a["class_id"] != b["class_id"] or a.get("label") != b.get("label"):
            return f"detection {index}: class {b['class_id']} instead of {a['class_id']}"
        if abs(a["score"] - b["score"]) > SCORE_TOLERANCE:
            return f"detection {index}: score {b['score']} instead of {a['score']}"
        if max(abs(x - y) for x, y in zip(a["box"], b["box"], strict=True)) > BOX_TOLERANCE_PX:
            return f"detection {index}: box {b['box']} instead of {a['box']}"
    return None


def references(target: Target, images: Sequence[tuple[str, bytes]]) -> list[list[dict[str, Any]]]:
    """One single-request response per image: what every loaded response must equal."""
    found = []
    for name, data in images:
        status, body, _ = detect(target, data)
        if status != 200:
            raise RuntimeError(f"reference request for {name} failed: {status} {body}")
        found.append(body["detections"])
    return found


def client(
    target: Target,
    images: Sequence[tuple[str, bytes]],
    expected: Sequence[list[dict[str, Any]]],
    indices: Sequence[int],
    deadline: float,
) -> Outcome:
    """One client process: its share of the requests, one after another."""
    outcome = Outcome()
    for position, index in enumerate(indices):
        if time.monotonic() > deadline:
            outcome.not_sent = len(indices) - position
            break
        name, data = images[index % len(images)]
        try:
            status, body, elapsed = detect(target, data)
        except OSError as error:  # refused, reset, timed out
            outcome.errors.append(f"request {index} ({name}): {type(error).__name__}: {error}")
            continue
        outcome.latencies_ms.append(elapsed)
        if status != 200:
            outcome.errors.append(f"request {index} ({name}): {status} {json.dumps(body)[:200]}")
            continue
        why = difference(expected[index % len(images)], body.get("detections", []))
        if why:
            outcome.mismatches.append(f"request {index} ({name}): {why}")
    return outcome


def run_load(
    target: Target,
    images: Sequence[tuple[str, bytes]],
    *,
    requests: int,
    concurrency: int,
    max_seconds: float,
) -> tuple[Outcome, float]:
    """The references, then ``requests`` from ``concurrency`` processes: outcome, wall time."""
    expected = references(target, images)
    deadline = time.monotonic() + max_seconds
    shares = [list(range(worker, requests, concurrency)) for worker in range(concurrency)]
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")  # no forked copies of our own state
    with context.Pool(concurrency) as pool:
        results = pool.starmap(
            client, [(target, images, expected, share, deadline) for share in shares]
        )
    wall_s = time.perf_counter() - started
    outcome = Outcome()
    for result in results:
        outcome.add(result)
    return outcome, wall_s


@contextmanager
def served(threads: int | None = None) -> Iterator[Target]:
    """``detector serve`` on a free loopback port with the sample model; stopped on exit."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "MODEL_", "JWT_"))
    }
    env.update({"JWT_SECRET": LOAD_SECRET, "PYTHONPATH": str(REPO / "function")})
    if threads:
        env["ORT_THREADS"] = str(threads)
    command = [sys.executable, "-m", "detector", "serve", "--host", LOOPBACK, "--port", "0"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        url = _announced_url(process)
        # The handler logs and emits metrics on stdout for every request: keep reading it,
        # or the server blocks once the pipe is full.
        threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
        yield Target(url, sign_token(LOAD_SECRET, subject="load-test", scope="detect"))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _announced_url(process: subprocess.Popen[str]) -> str:
    """The URL ``detector serve`` prints once it listens."""
    assert process.stdout is not None
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            raise RuntimeError(f"detector serve exited with status {process.returncode}")
        match = re.search(rf"http://{re.escape(LOOPBACK)}:\d+", line)
        if match:
            return loopback_url(match.group(0))
    raise RuntimeError("detector serve did not announce its URL in time")


def _drain(stream: IO[str] | None) -> None:
    if stream is not None:
        for _ in stream:
            pass


def report(outcome: Outcome, wall_s: float, requests: int, concurrency: int) -> str:
    lines = [
        f"requests {requests}, concurrency {concurrency} client processes, "
        f"wall time {wall_s:.1f} s",
        f"answered {len(outcome.latencies_ms)}, errors {len(outcome.errors)}, "
        f"mismatches {len(outcome.mismatches)}, not sent (deadline) {outcome.not_sent}",
    ]
    if outcome.latencies_ms:
        values = outcome.latencies_ms
        lines.append(
            f"throughput {len(values) / wall_s:.1f} requests/s; latency ms: "
            f"p50 {percentile(values, 50):.1f}  p90 {percentile(values, 90):.1f}  "
            f"p99 {percentile(values, 99):.1f}  max {max(values):.1f}"
        )
    lines += [f"  error: {line}" for line in outcome.errors[:10]]
    lines += [f"  mismatch: {line}" for line in outcome.mismatches[:10]]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help=f"an already running server (http://{LOOPBACK}:PORT)")
    parser.add_argument("--token", help="a bearer token for --url")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--images", type=int, default=16, help="distinct images to cycle")
    parser.add_argument("--max-seconds", type=float, default=900, help="stop sending after")
    parser.add_argument("--threads", type=int, help="ORT_THREADS of the started server")
    args = parser.parse_args(argv)
    if args.requests < 1 or not 1 <= args.concurrency <= 64:
        parser.error("--requests must be at least 1 and --concurrency 1 to 64")
    images = load_images(args.images)

    def go(target: Target) -> int:
        outcome, wall_s = run_load(
            target,
            images,
            requests=args.requests,
            concurrency=args.concurrency,
            max_seconds=args.max_seconds,
        )
        print(report(outcome, wall_s, args.requests, args.concurrency))
        failed = outcome.errors or outcome.mismatches or outcome.not_sent
        return 1 if failed else 0

    if args.url:
        if not args.token:
            parser.error("--url needs --token")
        try:
            url = loopback_url(args.url)
        except ValueError as error:
            parser.error(str(error))
        return go(Target(url, args.token))
    with served(args.threads) as target:
        print(f"started detector serve on {target.url}", flush=True)
        return go(target)


if __name__ == "__main__":
    sys.exit(main())
