"""The lost-event sweep describes an execution only after it has been seen stopped for a while."""

from __future__ import annotations

from typing import Any

from executor.markers import LOST_EVENT_GRACE_S, MarkerWatcher, _Wait


def test_sweep_waits_for_the_grace_period_before_describing() -> None:
    now = [0.0]
    watcher = MarkerWatcher(clock=lambda: now[0])
    running = {"arn:exec:busy"}
    watcher._running_executions = lambda clients, arn: set(running)  # type: ignore[method-assign]
    described: list[str] = []

    def recover(wait: Any) -> None:
        described.append(wait.execution_arn)

    watcher._recover = recover  # type: ignore[method-assign]
    waits = [
        _Wait(None, "b", "m/", f"m/{n}.json", arn, "arn:sm", 1.0, 10.0)  # type: ignore[arg-type]
        for n, arn in enumerate(("arn:exec:done", "arn:exec:busy"))
    ]
    for t in range(0, 10 + int(LOST_EVENT_GRACE_S), 10):  # sweeps at 10, 20, 30 s
        now[0] = float(t)
        watcher._sweep(waits)
    assert described == []  # stopped since the 10 s sweep: its event may still come
    now[0] = 10.0 + LOST_EVENT_GRACE_S
    watcher._sweep(waits)
    assert described == ["arn:exec:done"]  # the running one is never described
