"""AWS API requests counted at the client, and grouped for the report.

Every HTTP request a botocore client sends fires ``before-send.<service>.<Operation>``; a handler
on the boto3 session (before its clients are made) sees each one, retries and the pages of a
paginator included. Grouping is a pure function of the recorded requests, so it is unit-tested.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# How a request is charged in the report.
SETUP = "setup"  # once per process (account, bucket check, image lookup, definition gate)
SHARED = "shared"  # process-wide awaiting: one request serves every task in flight
PER_TASK = "per_task"  # made for one task


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic() when sent
    service: str
    operation: str


@dataclass(frozen=True)
class Charging:
    """Which (service, operation) pairs are setup, shared awaiting, or awaiting at all."""

    setup: frozenset[tuple[str, str]] = frozenset()
    shared: frozenset[tuple[str, str]] = frozenset()
    awaiting: frozenset[tuple[str, str]] = frozenset()

    def kind(self, request: Request) -> str:
        key = (request.service, request.operation)
        if key in self.setup or (request.service, "*") in self.setup:
            return SETUP
        if key in self.shared:
            return SHARED
        return PER_TASK


class RequestCounter:
    """Records every request sent by the clients of the sessions it is attached to."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()

    def attach(self, session: Any) -> None:
        """Count the requests of every client made from this boto3 session from now on."""
        session.events.register("before-send", self._on_send)

    def _on_send(self, event_name: str = "", **_: Any) -> None:
        parts = event_name.split(".")
        service, operation = (parts[1], parts[2]) if len(parts) >= 3 else ("?", "?")
        with self._lock:
            self.requests.append(Request(time.monotonic(), service, operation))
        # Returning None lets botocore send the request as usual.


def by_operation(requests: Iterable[Request]) -> dict[str, int]:
    """Counts keyed "service:Operation", most frequent first."""
    counts = Counter(f"{r.service}:{r.operation}" for r in requests)
    return dict(counts.most_common())


def between(requests: Iterable[Request], start: float, end: float) -> list[Request]:
    return [r for r in requests if start <= r.at <= end]


def aggregate(
    requests: list[Request], charging: Charging, tasks: int, window_s: float
) -> dict[str, Any]:
    """Per-task attributable and amortized request counts, and the awaiting rate.

    ``window_s`` is how long tasks were in flight (first run() call to last return): the shared
    awaiting requests per second over it is the process-wide cost of waiting.
    """
    kinds = Counter(charging.kind(r) for r in requests)
    awaiting = [r for r in requests if (r.service, r.operation) in charging.awaiting]
    batch = [r for r in requests if r.service == "batch"]
    per = max(tasks, 1)
    return {
        "total": len(requests),
        "setup": kinds[SETUP],
        "shared": kinds[SHARED],
        "per_task_attributable": kinds[PER_TASK] / per,
        "per_task_amortized": (kinds[PER_TASK] + kinds[SHARED]) / per,
        "per_task_with_setup": len(requests) / per,
        "batch_requests": len(batch),
        "awaiting_requests": len(awaiting),
        "awaiting_per_s": len(awaiting) / window_s if window_s > 0 else 0.0,
        "awaiting_per_s_by_operation": {
            k: v / window_s if window_s > 0 else 0.0 for k, v in by_operation(awaiting).items()
        },
        "by_operation": by_operation(requests),
        "by_operation_per_task": {k: v / per for k, v in by_operation(requests).items()},
    }
