"""Await completion markers for every task of this process at a cost that does not grow with them.

One background thread serves all executors in the process (Covalent builds one executor per
task). Each tick it lists each dispatch's marker prefix once, whatever the number of tasks in
flight, and resolves the waiters whose marker appeared. A slower sweep catches lost events: it
lists the state machine's RUNNING executions once, and a task whose execution is no longer running,
stopped more than one sweep interval ago and still has no marker gets its marker from
DescribeExecution, written with the same write-once rule the Lambda uses.
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

log = logging.getLogger(__name__)


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
    future: Future = field(default_factory=Future)
    seen_stopped_at: float | None = None  # watcher clock, first sweep that found it not running


class MarkerWatcher:
    """Resolves futures with the marker document once a task's marker exists."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self._clock = clock
        self._wake = threading.Event()
        self._sleep = sleep or (lambda s: self._wake.wait(s))
        self._lock = threading.Lock()
        self._waits: list[Wait] = []
        self._thread: threading.Thread | None = None
        self._last_sweep: dict[str, float] = {}
        self._listed_at: dict[tuple[int, str, str], float] = {}  # watcher clock, per prefix
        self.listings = 0  # marker listings made, for the benchmark and tests

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
        )
        with self._lock:
            self._waits.append(wait)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="eventbatch-markers", daemon=True
                )
                self._thread.start()
        self._wake.set()
        return wait.future

    def forget(self, future: Future) -> None:
        with self._lock:
            self._waits = [w for w in self._waits if w.future is not future]

    def _run(self) -> None:
        while True:
            with self._lock:
                waits = [w for w in self._waits if not w.future.done()]
                self._waits = waits
                if not waits:
                    self._thread = None
                    return
            self._wake.clear()
            self._tick(waits)
            self._sleep(self._until_next_listing(waits))

    @staticmethod
    def _groups(waits: list[Wait]) -> dict[tuple[int, str, str], list[Wait]]:
        groups: dict[tuple[int, str, str], list[Wait]] = {}
        for w in waits:
            groups.setdefault((id(w.clients), w.bucket, w.markers_prefix), []).append(w)
        return groups

    def _until_next_listing(self, waits: list[Wait]) -> float:
        now = self._clock()
        due = min(
            self._listed_at.get(key, now) + min(w.interval for w in group)
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
            if last is not None and now - last < min(w.interval for w in group):
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
            if now - self._last_sweep.setdefault(arn, now) < group[0].sweep_interval:
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
                    if now - w.seen_stopped_at >= w.sweep_interval:
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
