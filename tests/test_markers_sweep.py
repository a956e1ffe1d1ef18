"""The lost-event sweep describes an execution only from the sweep after it was seen stopped."""

from __future__ import annotations

from typing import Any

from executor.markers import MarkerWatcher, _Wait


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
    for t in (0.0, 10.0):  # the first call starts the sweep clock; the 10 s sweep finds it
        now[0] = t
        watcher._sweep(waits)
    assert described == []  # just seen stopped: its event may still come
    now[0] = 15.0
    watcher._sweep(waits)
    assert described == []  # not a sweep yet
    now[0] = 20.0
    watcher._sweep(waits)
    assert described == ["arn:exec:done"]  # the running one is never described
