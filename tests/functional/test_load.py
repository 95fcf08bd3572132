"""A small load test through ``detector serve`` on 127.0.0.1 (``benchmarks/load.py``, scaled down).

Correctness only (no timing assertions): every response under concurrency is a 200 with
exactly the detections a single request gets.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from benchmarks import load
from detector.local import serve


def test_concurrent_requests_all_succeed_with_the_single_request_detections():
    # GIVEN detector serve on a free loopback port, and eight distinct images
    images = load.load_images(8)
    with load.served(threads=1) as target:
        # WHEN 100 requests come from 4 client processes at once
        outcome, _ = load.run_load(target, images, requests=100, concurrency=4, max_seconds=300)
    # THEN every one was answered, correctly, and none was left unsent
    assert outcome.errors == []
    assert outcome.mismatches == []
    assert outcome.not_sent == 0
    assert len(outcome.latencies_ms) == 100


@pytest.mark.parametrize(
    "url",
    ["http://localhost:3000", "http://10.0.0.1:3000", "https://127.0.0.1:3000", "http://127.0.0.1"],
)
def test_the_load_script_refuses_anything_but_loopback_http_with_a_port(url):
    with pytest.raises(ValueError, match=r"only http://127\.0\.0\.1:PORT"):
        load.loopback_url(url)


def test_the_local_server_invokes_the_handler_one_request_at_a_time_like_lambda():
    # GIVEN a local server around a handler that notes how many invocations overlap
    # (the real handlers keep Powertools state per process: under overlapping invocations
    # the load test saw 500s "Must contain at least one metric" and swapped responses)
    active, overlaps, guard = [0], [0], threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with guard:
            active[0] += 1
            overlaps[0] = max(overlaps[0], active[0])
        time.sleep(0.05)
        with guard:
            active[0] -= 1
        return {"statusCode": 200, "body": "{}"}

    server = serve.make_server("127.0.0.1", 0, handler=handler)
    with serve.running(server), ThreadPoolExecutor(6) as pool:
        # WHEN six requests arrive at once
        def get(_: int) -> int:
            with urllib.request.urlopen(f"{server.url}/health", timeout=30) as response:
                return int(response.status)

        statuses = list(pool.map(get, range(6)))
    # THEN all are answered, and the handler never ran two at a time
    assert statuses == [200] * 6
    assert overlaps[0] == 1
