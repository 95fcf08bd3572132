"""The local Runtime API, driven by AWS's own runtime client (``python -m awslambdaric``).

Each test writes a tiny handler module into a task root and runs the real awslambdaric on
it: what the Lambda Python base image runs. They catch a Runtime API that awslambdaric
cannot use (a header it needs, a status it refuses, a connection it cannot keep), and
answers, errors and the SnapStart cycle that do not come back as the runtime sent them.
"""

from __future__ import annotations

import textwrap
import time
from pathlib import Path

import pytest

from detector.local.runtime_api import LambdaProcess, RuntimeApi, RuntimeExitedError

ECHO = """
    import os

    def handler(event, context):
        return {
            "event": event,
            "request_id": context.aws_request_id,
            "arn": context.invoked_function_arn,
            "remaining_ms": context.get_remaining_time_in_millis(),
            "trace": os.environ.get("_X_AMZN_TRACE_ID"),
            "pid": os.getpid(),
        }

    def failing(event, context):
        raise ValueError("no such thing: " + event["name"])
"""

HOOKS = """
    import json, os
    from pathlib import Path
    from snapshot_restore_py import register_after_restore, register_before_snapshot

    LOG = Path(os.environ["HOOK_LOG"])

    def note(what):
        with LOG.open("a") as log:
            log.write(what + "\\n")

    @register_before_snapshot
    def registered_first():
        note("before:first")

    @register_before_snapshot
    def registered_second():
        note("before:second")

    @register_after_restore
    def restored_first():
        note("after:first")

    @register_after_restore
    def restored_second():
        note("after:second")

    def handler(event, context):
        note("invoke")
        return LOG.read_text().split()
"""

BROKEN_IMPORT = """
    import detector_no_such_module
"""

FAILING_HOOK = """
    from snapshot_restore_py import register_before_snapshot

    @register_before_snapshot
    def load():
        raise RuntimeError("the model could not be loaded before the snapshot")

    def handler(event, context):
        return "unreachable"
"""


@pytest.fixture
def task_root(tmp_path: Path) -> Path:
    root = tmp_path / "task"
    root.mkdir()
    for name, source in {
        "echo": ECHO,
        "hooks": HOOKS,
        "broken": BROKEN_IMPORT,
        "failing_hook": FAILING_HOOK,
    }.items():
        (root / f"{name}.py").write_text(textwrap.dedent(source))
    return root


def test_events_in_order_reach_one_runtime_and_their_answers_come_back(task_root: Path) -> None:
    # GIVEN a runtime on the echo handler
    with (
        RuntimeApi(function_name="echo-fn", timeout_seconds=20) as api,
        LambdaProcess.start("echo.handler", api, task_root=task_root) as function,
    ):
        # WHEN three events are sent one after the other
        answers = [function.invoke({"n": n, "text": "héllo"}) for n in range(3)]

    # THEN each answer is the handler's, for its own event and request id, from one process
    bodies = [answer.json() for answer in answers]
    assert [body["event"] for body in bodies] == [{"n": n, "text": "héllo"} for n in range(3)]
    assert [body["request_id"] for body in bodies] == [answer.request_id for answer in answers]
    assert len({body["pid"] for body in bodies}) == 1
    assert all(answer.outcome == "response" for answer in answers)
    assert bodies[0]["arn"] == api.function_arn
    assert bodies[0]["arn"].endswith(":function:echo-fn")
    # the deadline header became the context's remaining time
    assert 15_000 < bodies[0]["remaining_ms"] <= 20_000
    # the trace header became _X_AMZN_TRACE_ID, as X-Ray's SDK reads it
    assert bodies[0]["trace"].startswith("Root=1-")
    # and the timestamps are in order: queued, delivered, answered
    for answer in answers:
        assert answer.queued_at <= answer.delivered_at <= answer.answered_at  # type: ignore[operator]
    assert function.started_at < answers[0].answered_at  # type: ignore[operator]


def test_a_handler_error_is_posted_as_an_invocation_error_and_the_runtime_goes_on(
    task_root: Path,
) -> None:
    with (
        RuntimeApi() as api,
        LambdaProcess.start("echo.failing", api, task_root=task_root) as function,
    ):
        failed = function.invoke({"name": "unicorn"})
        again = function.invoke({"name": "dragon"})

    assert failed.outcome == "error"
    error = failed.json()
    assert error["errorType"] == "ValueError"
    assert error["errorMessage"] == "no such thing: unicorn"
    assert error["requestId"] == failed.request_id
    assert again.json()["errorMessage"] == "no such thing: dragon"


def test_a_handler_that_cannot_be_imported_posts_an_init_error_and_exits(task_root: Path) -> None:
    with (
        RuntimeApi() as api,
        LambdaProcess.start("broken.handler", api, task_root=task_root) as function,
    ):
        with pytest.raises(RuntimeExitedError, match="detector_no_such_module"):
            function.invoke({})
        assert function.wait_exit() != 0

    (call,) = [call for call in api.calls if call.kind == "init_error"]
    assert call.error_type == "Runtime.ImportModuleError"
    assert "No module named 'detector_no_such_module'" in call.json()["errorMessage"]
    assert "next" not in [call.kind for call in api.calls]


def test_snap_start_runs_the_hooks_around_restore_next_in_lambdas_order(
    task_root: Path, tmp_path: Path
) -> None:
    hook_log = tmp_path / "hooks.log"
    # GIVEN a runtime initialised for SnapStart, its snapshot point held
    with (
        RuntimeApi(hold_restore=True) as api,
        LambdaProcess.start(
            "hooks.handler",
            api,
            task_root=task_root,
            snap_start=True,
            env={"HOOK_LOG": str(hook_log)},
        ) as function,
    ):
        api.wait_for_call("restore_next", timeout=30, process=function.popen)
        # WHEN it waits on restore/next (where Lambda takes the snapshot)
        time.sleep(0.2)  # an after-restore hook run too early would show up by now
        at_snapshot = hook_log.read_text().split()
        # and is then restored and invoked
        api.release_restore()
        answer = function.invoke({})

    # THEN the before-snapshot hooks ran before it, last registered first, and the
    # after-restore hooks only after it, in registration order, then the invocation
    assert at_snapshot == ["before:second", "before:first"]
    assert answer.json() == [
        "before:second",
        "before:first",
        "after:first",
        "after:second",
        "invoke",
    ]
    kinds = [call.kind for call in api.calls]
    assert kinds.index("restore_next") < kinds.index("next")


def test_a_failing_before_snapshot_hook_posts_an_init_error_and_no_snapshot_is_taken(
    task_root: Path,
) -> None:
    with (
        RuntimeApi() as api,
        LambdaProcess.start(
            "failing_hook.handler", api, task_root=task_root, snap_start=True
        ) as function,
    ):
        with pytest.raises(RuntimeExitedError, match="could not be loaded before the snapshot"):
            function.invoke({})
        assert function.wait_exit() == 64  # awslambdaric's exit status for this failure

    (call,) = [call for call in api.calls if call.kind == "init_error"]
    assert call.error_type == "Runtime.BeforeSnapshotError"
    assert "restore_next" not in [call.kind for call in api.calls]
