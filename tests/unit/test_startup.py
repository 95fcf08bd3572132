"""startup: the garbage collector paused for a cold start under a Lambda runtime only."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from detector import startup
from detector.settings import RUNTIME_API


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    """Whatever a test does to the collector, the session gets it back running, unfrozen."""
    yield
    startup.resume()
    gc.unfreeze()
    gc.enable()


def test_outside_a_lambda_runtime_nothing_is_paused(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a process no Lambda runtime started (tests, the CLI, detector serve)
    monkeypatch.delenv(RUNTIME_API, raising=False)
    # WHEN a handler's import asks for the pause THEN the collector keeps running, and there
    # is nothing to resume
    startup.pause()
    assert gc.isenabled()
    assert startup.resume() == 0
    assert gc.get_freeze_count() == 0


def test_under_a_lambda_runtime_the_cold_start_runs_paused_and_resumes_frozen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(RUNTIME_API, "127.0.0.1:9001")
    startup.pause()
    assert not gc.isenabled()
    # what the cold start builds...
    built = [[index] for index in range(1000)]
    # ...is frozen when it resumes: no later collection scans it
    frozen = startup.resume()
    assert gc.isenabled()
    assert frozen == gc.get_freeze_count() >= len(built)
    # and resuming twice does nothing more
    assert startup.resume() == 0


def test_the_first_call_resumes_even_when_it_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUNTIME_API, "127.0.0.1:9001")
    startup.pause()

    @startup.resumes_after_the_first_call
    def handler(event: dict[str, str], context: object) -> dict[str, str]:
        raise RuntimeError(event["why"])

    with pytest.raises(RuntimeError, match="bad event"):
        handler({"why": "bad event"}, None)
    assert gc.isenabled()
    assert gc.get_freeze_count() > 0


def test_a_collector_someone_else_disabled_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(RUNTIME_API, "127.0.0.1:9001")
    gc.disable()
    startup.pause()
    assert startup.resume() == 0
    assert not gc.isenabled()
