"""A small load test through ``detector serve`` on 127.0.0.1 (``infra/load.py``, scaled down).

Correctness only (no timing assertions): every response under concurrency is a 200 with
exactly the detections a single request gets.
"""

from __future__ import annotations

import pytest

from infra import load


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
