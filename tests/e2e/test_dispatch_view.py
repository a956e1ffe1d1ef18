"""`eventbatch status` and `eventbatch logs` on a real dispatch, on the local stack.

A real `covalent start` dispatcher runs a quick and a slow electron. While the slow one runs:
`status --json` shows one electron running and one ended, `logs --follow` (its own process)
prints the task's lines before the job ends, and the watch display (the demo's) refreshes. After
the dispatch ends, every row has its outcome, attempts and resource-seconds, and the total is
their sum.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import covalent as ct
import pytest
from rich.console import Console

import covalent_eventbatch.cli as eventbatch_cli
from covalent_eventbatch.dispatchview.cli import watch_dispatch
from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor

from .helpers import explain

pytestmark = pytest.mark.e2e

SLOW_LINES = 25


def _status(dispatch_id: str) -> dict[str, Any]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = eventbatch_cli.main(["status", dispatch_id, "--json"])
    assert code == 0
    return dict(json.loads(out.getvalue()))


def _rows(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in status["electrons"]}


class _TimedLines:
    """A subprocess's stdout lines with the time each arrived."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[tuple[float, str]] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append((time.time(), line.rstrip("\n")))

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


def test_status_logs_and_watch_follow_a_running_dispatch(covalent_server, aws) -> None:
    @ct.electron(executor="awsbatch")
    def quick(x: int) -> int:
        return x + 1

    # 1.5 GiB is asked for through the job's overrides; the shared job definition says less.
    @ct.electron(executor=AWSBatchExecutor(memory=1.5))
    def slow(x: int) -> int:
        import time

        for i in range(SLOW_LINES):
            print(f"slow line {i}", flush=True)
            time.sleep(1)
        return x

    @ct.lattice
    def workflow() -> list:
        return [quick(1), slow(2)]

    dispatch_id = ct.dispatch(workflow)()
    screen = io.StringIO()
    watched: list[Any] = []
    watcher = threading.Thread(
        target=lambda: watched.append(
            watch_dispatch(
                dispatch_id,
                interval=1.0,
                console=Console(file=screen, force_terminal=True, width=200),
            )
        ),
        daemon=True,
    )
    watcher.start()

    # While the slow electron runs: one electron running, one ended.
    deadline = time.monotonic() + 300
    seen: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        with contextlib.suppress(AssertionError):  # no electron on AWS yet: not an error here
            status = _status(dispatch_id)
            stages = {row["name"]: row["stage"] for row in status["electrons"]}
            if stages.get("slow") == "running" and stages.get("quick") == "succeeded":
                seen = status
                break
        time.sleep(1)
    assert seen is not None, "never saw slow running while quick had ended"
    running = _rows(seen)["slow"]
    assert running["ended"] is False and running["outcome"] is None
    assert running["usage"]["seconds"] >= 0 and running["usage_recorded"] is False
    assert running["links"]["execution"].startswith("https://console.aws.amazon.com/states/")
    assert _rows(seen)["quick"]["ended"] is True
    assert seen["total"]["ended"] == 1

    # `eventbatch logs --follow` in a process of its own, while the slow electron still runs.
    follower = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "eventbatch"),
            "logs",
            dispatch_id,
            str(running["node_id"]),
            "--follow",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    lines = _TimedLines(follower)

    result = ct.get_result(dispatch_id, wait=True)
    assert str(result.status) == "COMPLETED", explain(result)
    assert follower.wait(timeout=120) == 0, follower.stderr.read() if follower.stderr else ""
    lines.join(10)
    watcher.join(120)

    final = _status(dispatch_id)
    rows = _rows(final)
    assert set(rows) >= {"quick", "slow"}
    for row in final["electrons"]:
        assert row["ended"] and row["outcome"] == "succeeded", row
        assert row["attempts"] == 1
        assert row["usage_recorded"] is True  # written into the marker by the Lambda
        assert row["usage"]["vcpu_seconds"] > 0 and row["usage"]["gib_seconds"] > 0
    for key in ("vcpu_seconds", "gib_seconds", "gpu_seconds"):
        assert final["total"][key] == pytest.approx(
            sum(row["usage"][key] for row in final["electrons"]), abs=1e-6
        )
    slow_usage = rows["slow"]["usage"]
    assert (slow_usage["vcpu"], slow_usage["memory_gib"]) == (1, 1.5)
    assert slow_usage["gib_seconds"] == pytest.approx(1.5 * slow_usage["seconds"], abs=0.01)
    assert slow_usage["seconds"] >= SLOW_LINES - 1

    # The follower printed the task's first line before the job stopped.
    printed = [(t, line) for t, line in lines.lines if line.startswith("slow line")]
    assert [line for _, line in printed] == [f"slow line {i}" for i in range(SLOW_LINES)]
    stopped_ms = slow_usage["attempts"][-1]["stopped_at"]
    assert printed[0][0] * 1000 < stopped_ms - 5000, (printed[0][0], stopped_ms)

    # The watch display (the demo's) showed the slow electron running, then everything ended.
    assert watched and watched[0].all_ended
    shown = screen.getvalue()
    assert "running" in shown and "succeeded" in shown

    # The screen the README shows.
    with contextlib.redirect_stdout(io.StringIO()) as table:
        eventbatch_cli.main(["status", dispatch_id])
    print(table.getvalue())
