"""What the marker watcher asks AWS for: one listing per dispatch per interval, however its tasks
start, and DescribeExecution only for an execution seen stopped for a whole sweep interval."""

from __future__ import annotations

from typing import Any

import pytest

from covalent_eventbatch.executor.markers import MarkerWatcher, Wait


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
        Wait(None, "b", "m/", f"m/{n}.json", arn, "arn:sm", 1.0, 10.0)  # type: ignore[arg-type]
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


def test_new_tasks_of_a_listed_dispatch_wait_for_the_next_listing() -> None:
    now = [0.0]
    watcher = MarkerWatcher(clock=lambda: now[0])
    listed: list[str] = []

    def list_prefix(wait: Any) -> set[str]:
        listed.append(wait.markers_prefix)
        return set()

    watcher._list = list_prefix  # type: ignore[method-assign]
    watcher._sweep = lambda waits: None  # type: ignore[method-assign]

    def wait(prefix: str, node: int) -> Wait:
        return Wait(None, "b", prefix, f"{prefix}{node}.json", "e", "sm", 1.0, 10.0)  # type: ignore[arg-type]

    waits = [wait("m/d1/", 0)]
    watcher._tick(waits)
    now[0] = 0.3  # a second task of d1 and a first of d2 arrive and wake the thread
    waits += [wait("m/d1/", 1), wait("m/d2/", 0)]
    watcher._tick(waits)
    assert listed == ["m/d1/", "m/d2/"]  # d2 at once, d1 not again
    assert watcher._until_next_listing(waits) == pytest.approx(
        0.7
    )  # d1 is due one interval after its listing
    now[0] = 1.0
    watcher._tick(waits)
    assert listed == ["m/d1/", "m/d2/", "m/d1/"]


def test_a_sweep_replaces_that_ticks_listing() -> None:
    now = [0.0]
    watcher = MarkerWatcher(clock=lambda: now[0])
    asked: list[str] = []

    def listing(wait: Any) -> set[str]:
        asked.append("list")
        return set()

    def running(clients: Any, arn: str) -> set[str]:
        asked.append("sweep")
        return {"arn:exec:0", "arn:exec:1"}

    watcher._list = listing  # type: ignore[method-assign]
    watcher._running_executions = running  # type: ignore[method-assign]
    waits = [
        Wait(None, "b", "m/", f"m/{n}.json", f"arn:exec:{n}", "arn:sm", 1.0, 10.0)  # type: ignore[arg-type]
        for n in range(2)
    ]
    for second in range(31):  # one tick per marker interval for 30 s
        now[0] = float(second)
        watcher._tick(waits)
    # One request per tick in all: three sweeps took the place of three listings.
    assert len(asked) == 31
    assert asked.count("sweep") == 3


def test_the_watcher_sleeps_a_whole_interval_after_a_sweep() -> None:
    now = [0.0]
    watcher = MarkerWatcher(clock=lambda: now[0])
    watcher._list = lambda wait: set()  # type: ignore[method-assign,assignment]
    watcher._running_executions = lambda clients, arn: {"arn:exec:0"}  # type: ignore[method-assign,assignment]
    waits = [Wait(None, "b", "m/", "m/0.json", "arn:exec:0", "arn:sm", 1.0, 10.0)]  # type: ignore[arg-type]
    watcher._tick(waits)  # lists at 0 s
    now[0] = 10.0
    watcher._tick(waits)  # the sweep is due: it takes this tick
    assert watcher._until_next_listing(waits) == 1.0
