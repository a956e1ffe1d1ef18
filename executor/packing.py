"""Gather the electrons of one process that arrive together and could share one Batch job.

Covalent calls ``run()`` once per electron, so a fan-out arrives as many separate calls a few
milliseconds apart. Each call joins a group keyed by everything that decides its Batch job (job
definition, vCPU/memory/GPU, queue, time limit, retry rules, dispatch). A lone member waits
``window`` seconds for company; once a second one has come (a fan-out is under way), the group
waits for stragglers up to ``FAN_OUT_QUIET_WINDOWS`` windows after the latest, since a busy
dispatcher's calls come further apart; never longer than ``MAX_WAIT_WINDOWS`` windows after its
first member, and never past Batch's array limit. A closed group is handed to ``launch`` on a
thread of its own. ``launch``
returns one result per member, in order; every member's future gets its own.

Generic on purpose: what a member is and how a group is launched belong to the caller.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

# AWS Batch: arrayProperties.size is 2 to 10,000.
MAX_ARRAY_SIZE = 10_000
# A group of two or more waits this many windows after its latest member (measured through a real
# dispatcher on 2 busy cores: run() calls 45-180 ms apart, more while a first pack's containers
# start), and at most MAX_WAIT_WINDOWS after its first.
FAN_OUT_QUIET_WINDOWS = 4
MAX_WAIT_WINDOWS = 24

M = TypeVar("M")
R = TypeVar("R")

Launch = Callable[[Sequence[M]], Sequence[R]]


@dataclass
class _Group(Generic[M, R]):
    launch: Launch
    window: float
    first_at: float
    last_at: float
    members: list[M] = field(default_factory=list)
    futures: list[Future] = field(default_factory=list)

    def closes_at(self) -> float:
        quiet = self.window if len(self.members) == 1 else self.window * FAN_OUT_QUIET_WINDOWS
        return min(self.last_at + quiet, self.first_at + self.window * MAX_WAIT_WINDOWS)


class Gatherer(Generic[M, R]):
    """Groups members by key within a window; launches each closed group on its own thread."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_size: int = MAX_ARRAY_SIZE
    ) -> None:
        self._clock = clock
        self._max_size = max_size
        self._cond = threading.Condition()
        self._open: dict[Hashable, _Group[M, R]] = {}
        self._thread: threading.Thread | None = None
        self.launched_sizes: list[int] = []  # for tests and the benchmark

    def join(self, key: Hashable, member: M, window: float, launch: Launch) -> Future:
        """Add member to the open group of key (or open one); the future resolves to its result."""
        future: Future = Future()
        with self._cond:
            now = self._clock()
            group = self._open.get(key)
            if group is None:
                group = _Group(launch, window, now, now)
                self._open[key] = group
            group.members.append(member)
            group.futures.append(future)
            group.last_at = now
            if len(group.members) >= self._max_size:
                # Full: it goes now, and the next member of this key opens a new group.
                del self._open[key]
                self._start(group)
            elif self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="eventbatch-packing", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        return future

    def _run(self) -> None:
        with self._cond:
            while self._open:
                now = self._clock()
                due = [k for k, g in self._open.items() if g.closes_at() <= now]
                for k in due:
                    self._start(self._open.pop(k))
                if self._open:
                    wait = min(g.closes_at() for g in self._open.values()) - now
                    self._cond.wait(max(wait, 0.001))
            self._thread = None

    def _start(self, group: _Group[M, R]) -> None:
        self.launched_sizes.append(len(group.members))
        threading.Thread(
            target=_launch, args=(group,), name="eventbatch-pack-launch", daemon=True
        ).start()


def _launch(group: _Group[Any, Any]) -> None:
    try:
        results = list(group.launch(group.members))
        if len(results) != len(group.futures):
            raise RuntimeError(
                f"pack launch returned {len(results)} results for {len(group.futures)} members"
            )
    except BaseException as exc:  # noqa: BLE001 - every member must hear of it
        for future in group.futures:
            future.set_exception(exc)
        return
    for future, result in zip(group.futures, results):
        future.set_result(result)
