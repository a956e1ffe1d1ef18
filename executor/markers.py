"""Await completion markers for every task of this process at a cost that does not grow with them.

One background thread serves all executors in the process (Covalent builds one executor per
task). It long-polls the process's wake-up queue (``wakeups.py``): the Lambda names each marker
there as it writes it, so a completion is seen one hop after it is recorded. The S3 listing stays
as the fallback: each dispatch's marker prefix is listed once per tick, whatever the number of
tasks in flight, every ``FALLBACK_LISTING_S`` while the queue answers and every
``marker_interval`` for tasks without one (no permission, queue deleted). A slower sweep catches
lost events: it lists the state machine's RUNNING executions once, and a task whose execution is
no longer running, stopped more than one sweep interval ago and still has no marker gets its
marker from DescribeExecution, written with the same write-once rule the Lambda uses.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from covalent_eventbatch.chalice_app.markers import marker_from_execution, write_once

from .aws import AwsClients
from .wakeups import WAIT_S, QueueGone, WakeQueue, Wakeup

log = logging.getLogger(__name__)

# While the wake-up queue answers, the listing and the sweep only catch what it missed: with
# its long polls (one per WAIT_S) the process asks about once per 17 s in all.
FALLBACK_LISTING_S = 120.0
FALLBACK_SWEEP_S = 240.0
# How long the queue stays open after the last task ended, for the next task to use.
IDLE_CLOSE_S = 300.0


@dataclass
class Wait:
    clients: AwsClients
    bucket: str
    markers_prefix: str
    key: str
    execution_arn: str
    state_machine_arn: str
    interval: float
    sweep_interval: float
    wake: WakeQueue | None = None
    wake_url: str | None = None  # the queue named in the execution's marker location
    hastened: bool = False  # this process stopped it: no event may come (see hasten)
    future: Future = field(default_factory=Future)
    seen_stopped_at: float | None = None  # watcher clock, first sweep that found it not running

    @property
    def pushed(self) -> bool:
        """Whether its completion will wake the watcher: its queue is open and answering."""
        return not self.hastened and self.wake is not None and self.wake.answers(self.wake_url)

    @property
    def listing_interval(self) -> float:
        return max(self.interval, FALLBACK_LISTING_S) if self.pushed else self.interval

    @property
    def sweep_every(self) -> float:
        return max(self.sweep_interval, FALLBACK_SWEEP_S) if self.pushed else self.sweep_interval


class MarkerWatcher:
    """Resolves futures with the marker document once a task's marker exists."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
        idle_s: float = IDLE_CLOSE_S,
    ) -> None:
        self._clock = clock
        self._idle_s = idle_s
        self._wake = threading.Event()
        self._sleep = sleep or (lambda s: self._wake.wait(s))
        self._lock = threading.Lock()
        self._waits: list[Wait] = []
        self._thread: threading.Thread | None = None
        self._last_sweep: dict[str, float] = {}
        self._listed_at: dict[tuple[int, str, str], float] = {}  # watcher clock, per prefix
        self._queues: dict[int, WakeQueue] = {}  # every queue a task was watched on
        self.listings = 0  # marker listings made, for the benchmark and tests
        self.woken = 0  # tasks resolved by a wake-up

    def watch(
        self,
        clients: AwsClients,
        bucket: str,
        markers_prefix: str,
        key: str,
        execution_arn: str,
        state_machine_arn: str,
        interval: float,
        sweep_interval: float,
        wake: WakeQueue | None = None,
        wake_url: str | None = None,
    ) -> Future:
        wait = Wait(
            clients,
            bucket,
            markers_prefix,
            key,
            execution_arn,
            state_machine_arn,
            interval,
            sweep_interval,
            wake,
            wake_url,
        )
        with self._lock:
            self._waits.append(wait)
            if wake is not None:
                self._queues[id(wake)] = wake
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="eventbatch-markers", daemon=True
                )
                self._thread.start()
        self._wake.set()
        return wait.future

    def hasten(self, execution_arn: str | None = None, key: str | None = None) -> None:
        """Look for these tasks' markers at the fast pace from now on.

        For a task this process stopped (a cancel): its marker may be written by the process
        itself (a pack's member) or come only from the sweep (no event for a stopped execution
        on some stacks), neither of which wakes the queue.
        """
        with self._lock:
            for w in self._waits:
                if w.execution_arn == execution_arn or w.key == key:
                    w.hastened = True
        self._wake.set()

    def forget(self, future: Future) -> None:
        with self._lock:
            self._waits = [w for w in self._waits if w.future is not future]

    def _run(self) -> None:
        while True:
            with self._lock:
                waits = [w for w in self._waits if not w.future.done()]
                self._waits = waits
            if not waits:
                if self._stop_when_idle():
                    return
                continue
            self._wake.clear()
            self._tick(waits)
            self._await_next(waits)

    def _stop_when_idle(self) -> bool:
        """No task waits: keep the queues open a while for the next ones, then close them."""
        self._wake.wait(self._idle_s)
        self._wake.clear()
        with self._lock:
            if any(not w.future.done() for w in self._waits):
                return False
            self._thread = None
            queues = list(self._queues.values())
        for queue in queues:
            queue.close(idle_s=self._idle_s)
        return True

    def _await_next(self, waits: list[Wait]) -> None:
        """Long-poll the wake-up queue until the next listing is due (or sleep without one)."""
        until = self._until_next_listing(waits)
        queue = next((w.wake for w in waits if w.pushed), None)
        if queue is None:
            self._sleep(until)
            return
        # While every task has its wake-up coming, a whole long poll: the listing can wait.
        wait_s = WAIT_S if all(w.pushed for w in waits) else min(WAIT_S, until)
        try:
            wakeups = queue.receive(wait_s)
        except QueueGone:
            return  # those tasks are listed from now on
        except Exception as exc:  # noqa: BLE001 - their tasks are listed until it answers
            log.warning("receiving wake-ups failed: %s", exc)
            return
        self._deliver(wakeups)

    def _deliver(self, wakeups: list[Wakeup]) -> None:
        """Resolve the tasks the wake-ups name; a wake-up for a task not awaited is ignored."""
        with self._lock:
            by_key = {(w.bucket, w.key): w for w in self._waits if not w.future.done()}
        for wakeup in wakeups:
            w = by_key.pop((wakeup.bucket, wakeup.key), None)
            if w is None:
                continue
            self.woken += 1
            if wakeup.document is not None:  # what the Lambda wrote: the marker's content
                w.future.set_result(wakeup.document)
            else:
                self._resolve_from_s3(w)

    @staticmethod
    def _groups(waits: list[Wait]) -> dict[tuple[int, str, str], list[Wait]]:
        groups: dict[tuple[int, str, str], list[Wait]] = {}
        for w in waits:
            groups.setdefault((id(w.clients), w.bucket, w.markers_prefix), []).append(w)
        return groups

    def _until_next_listing(self, waits: list[Wait]) -> float:
        now = self._clock()
        due = min(
            self._listed_at.get(key, now) + min(w.listing_interval for w in group)
            for key, group in self._groups(waits).items()
        )
        return max(0.0, due - now)

    def _tick(self, waits: list[Wait]) -> None:
        # A sweep takes the place of that tick's listings, so that the process as a whole makes
        # no more than one request per marker interval; the listings follow on the next tick.
        groups = self._groups(waits)
        if self._sweep(waits):
            now = self._clock()
            for key in groups:  # this tick's listings are the sweep's: the next come an interval on
                self._listed_at[key] = now
            return
        now = self._clock()
        self._listed_at = {k: t for k, t in self._listed_at.items() if k in groups}
        for key, group in groups.items():
            # A new task wakes the thread so that a new dispatch is listed at once; a dispatch
            # listed less than an interval ago waits for its turn (its new task's marker cannot
            # be there yet), so a dispatch costs one listing per interval however its tasks start.
            last = self._listed_at.get(key)
            if last is None and all(w.pushed for w in group):
                self._listed_at[key] = now  # their wake-ups come: the first listing can wait
                continue
            if last is not None and now - last < min(w.listing_interval for w in group):
                continue
            self._listed_at[key] = now
            try:
                present = self._list(group[0])
            except Exception as exc:  # keep serving the other dispatches; retried next tick
                log.warning("listing markers under %s failed: %s", group[0].markers_prefix, exc)
                continue
            for w in group:
                if w.key in present:
                    self._resolve_from_s3(w)

    def _list(self, w: Wait) -> set[str]:
        s3 = w.clients.client("s3")
        keys: set[str] = set()
        for page in s3.get_paginator("list_objects_v2").paginate(
            Bucket=w.bucket, Prefix=w.markers_prefix
        ):
            self.listings += 1
            keys.update(item["Key"] for item in page.get("Contents", []))
        return keys

    def _resolve_from_s3(self, w: Wait) -> None:
        try:
            body = w.clients.client("s3").get_object(Bucket=w.bucket, Key=w.key)["Body"].read()
            w.future.set_result(json.loads(body))
        except Exception as exc:
            log.warning("reading marker s3://%s/%s failed: %s", w.bucket, w.key, exc)

    def _sweep(self, waits: list[Wait]) -> bool:
        """The slow path for lost events: one RUNNING listing per state machine per interval.

        Returns whether it asked Step Functions anything.
        """
        swept = False
        now = self._clock()
        by_machine: dict[str, list[Wait]] = {}
        for w in waits:
            if not w.future.done():
                by_machine.setdefault(w.state_machine_arn, []).append(w)
        for arn, group in by_machine.items():
            if now - self._last_sweep.setdefault(arn, now) < min(w.sweep_every for w in group):
                continue
            self._last_sweep[arn] = now
            swept = True
            try:
                running = self._running_executions(group[0].clients, arn)
                for w in group:
                    if w.execution_arn in running:
                        continue
                    # A task that just finished has its event on the way: describe its execution
                    # only from the sweep after the one that first found it stopped, not on every
                    # sweep that happens to follow a burst of completions.
                    if w.seen_stopped_at is None:
                        w.seen_stopped_at = now
                    if now - w.seen_stopped_at >= w.sweep_every:
                        self._recover(w)
            except Exception as exc:
                log.warning("checking executions of %s failed: %s", arn, exc)
        return swept

    @staticmethod
    def _running_executions(clients: AwsClients, state_machine_arn: str) -> set[str]:
        sfn = clients.client("stepfunctions")
        arns: set[str] = set()
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=state_machine_arn, statusFilter="RUNNING"
        ):
            arns.update(e["executionArn"] for e in page["executions"])
        return arns

    def _recover(self, w: Wait) -> None:
        described = w.clients.client("stepfunctions").describe_execution(
            executionArn=w.execution_arn
        )
        status = described["status"]
        stopped = described.get("stopDate")
        if status == "RUNNING" or stopped is None:
            return
        age = datetime.datetime.now(datetime.timezone.utc) - stopped
        if age.total_seconds() < w.sweep_interval:
            return  # its event has had less than a sweep interval to arrive
        location = {"Bucket": w.bucket, "Key": w.key}
        # The same document the Lambda would have written from this execution's events.
        found = marker_from_execution(described, "executor-fallback", location)
        if found is None:
            return
        s3 = w.clients.client("s3")
        if write_once(s3, location, found[1]):
            log.warning("no completion event for %s: marker written from DescribeExecution", w.key)
        self._resolve_from_s3(w)
