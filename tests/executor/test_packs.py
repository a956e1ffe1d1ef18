"""The gatherer: who shares a pack, when a pack closes, and what each member gets."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

import pytest

from covalent_eventbatch.executor.packs import FAN_OUT_QUIET_WINDOWS, MAX_WAIT_WINDOWS, Gatherer


def _launcher(calls: list[list[str]]):
    def launch(members: Sequence[str]) -> list[str]:
        calls.append(list(members))
        return [f"{m}@{len(members)}" for m in members]

    return launch


def test_members_arriving_within_the_window_share_one_launch() -> None:
    calls: list[list[str]] = []
    gatherer: Gatherer[str, str] = Gatherer()
    launch = _launcher(calls)
    futures = []
    for name in "abcde":
        futures.append(gatherer.join("key", name, 0.2, launch))
        time.sleep(0.02)
    assert [f.result(timeout=5) for f in futures] == [f"{n}@5" for n in "abcde"]
    assert calls == [list("abcde")]


def test_different_keys_never_share_and_a_late_member_opens_a_new_pack() -> None:
    calls: list[list[str]] = []
    gatherer: Gatherer[str, str] = Gatherer()
    launch = _launcher(calls)
    a = gatherer.join("small", "a", 0.05, launch)
    b = gatherer.join("large", "b", 0.05, launch)
    assert (a.result(timeout=5), b.result(timeout=5)) == ("a@1", "b@1")
    late = gatherer.join("small", "c", 0.05, launch)
    assert late.result(timeout=5) == "c@1"
    assert sorted(map(tuple, calls)) == [("a",), ("b",), ("c",)]


def test_a_full_pack_goes_at_once_and_the_rest_form_the_next() -> None:
    calls: list[list[str]] = []
    gatherer: Gatherer[str, str] = Gatherer(max_size=3)
    launch = _launcher(calls)
    started = time.monotonic()
    futures = [gatherer.join("key", str(i), 5.0, launch) for i in range(4)]
    assert [f.result(timeout=1) for f in futures[:3]] == ["0@3", "1@3", "2@3"]
    assert time.monotonic() - started < 1  # did not wait for the 5 s window
    assert futures[3].result(timeout=10) == "3@1"
    assert gatherer.launched_sizes == [3, 1]


def test_stragglers_cannot_hold_a_pack_open_forever() -> None:
    calls: list[list[str]] = []
    gatherer: Gatherer[str, str] = Gatherer()
    launch = _launcher(calls)
    stop = threading.Event()
    futures = []

    def trickle() -> None:
        i = 0
        while not stop.is_set():
            futures.append(gatherer.join("key", str(i), 0.05, launch))
            i += 1
            time.sleep(0.02)  # always within the window

    thread = threading.Thread(target=trickle)
    thread.start()
    futures_first = None
    deadline = time.monotonic() + 5
    while not calls and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join()
    futures_first = futures[0].result(timeout=5)
    assert calls, "the pack never closed"
    assert 1 < len(calls[0]) <= 0.05 * MAX_WAIT_WINDOWS / 0.02 + 2
    assert futures_first.endswith(f"@{len(calls[0])}")


def test_a_failed_launch_fails_every_member() -> None:
    gatherer: Gatherer[str, str] = Gatherer()

    def launch(members: Sequence[str]) -> list[str]:
        raise RuntimeError("StartExecution refused")

    futures = [gatherer.join("key", n, 0.05, launch) for n in "ab"]
    for f in futures:
        with pytest.raises(RuntimeError, match="StartExecution refused"):
            f.result(timeout=5)


def test_a_lone_member_waits_one_window_and_a_fan_out_waits_longer_for_stragglers() -> None:
    calls: list[list[str]] = []
    gatherer: Gatherer[str, str] = Gatherer()
    launch = _launcher(calls)
    started = time.monotonic()
    assert gatherer.join("lone", "a", 0.1, launch).result(timeout=5) == "a@1"
    assert time.monotonic() - started < 0.1 * 2
    # Two arrive together; a third comes 3 windows later, still within the fan-out's wait.
    first = [gatherer.join("fan", n, 0.1, launch) for n in "bc"]
    time.sleep(0.1 * (FAN_OUT_QUIET_WINDOWS - 1))
    last = gatherer.join("fan", "d", 0.1, launch)
    assert [f.result(timeout=5) for f in [*first, last]] == ["b@3", "c@3", "d@3"]
