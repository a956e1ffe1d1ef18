"""AWS API requests counted at the client, and grouped for the report.

Every HTTP request a botocore client sends fires ``before-send.<service>.<Operation>``; a handler
on the boto3 session (before its clients are made) sees each one, retries and the pages of a
paginator included. Some requests are charged by what they got back (a long poll that returned
messages delivered completions; an empty one only waited): botocore fires
``after-call.<service>.<Operation>`` with the parsed response once per call, in the thread that
sent it, after its last attempt, so that handler marks the request that thread sent last.
Grouping is a pure function of the recorded requests, so it is unit-tested.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

# How a request is charged in the report.
SETUP = "setup"  # once per process (account, bucket check, image lookup, definition gate, queue)
SHARED = "shared"  # process-wide awaiting: one request serves every task in flight
PER_TASK = "per_task"  # made for one task

# What a request got back (Request.outcome).
UNKNOWN = ""  # no answer seen (the process ended first, or an old run's data)
OK = "ok"
ERROR = "error"  # an error response, or no response at all (after-call-error)
RETRIED = "retried"  # an attempt botocore sent again
MESSAGES = "messages"  # sqs:ReceiveMessage that returned at least one message
EMPTY = "empty"  # sqs:ReceiveMessage whose long poll expired with nothing

# A charging key: (service, Operation), (service, "*") for every operation of the service, or
# (service, Operation, outcome) for the requests of that operation that got that outcome.
Key = tuple[str, ...]


@dataclass(frozen=True)
class Request:
    at: float  # time.monotonic() when sent
    service: str
    operation: str
    outcome: str = UNKNOWN

    @property
    def label(self) -> str:
        """ "service:Operation", with the outcome when it decides the charge ("/empty")."""
        base = f"{self.service}:{self.operation}"
        return f"{base}/{self.outcome}" if self.outcome in (MESSAGES, EMPTY) else base


def outcome_of(operation: str, parsed: Mapping[str, Any] | None, status: int | None) -> str:
    """What a call got back, from botocore's after-call arguments."""
    if parsed is None or (status is not None and status >= 300) or "Error" in parsed:
        return ERROR
    if operation == "ReceiveMessage":
        return MESSAGES if parsed.get("Messages") else EMPTY
    return OK


def _matches(request: Request, keys: frozenset[Key]) -> bool:
    return (
        (request.service, request.operation) in keys
        or (request.service, "*") in keys
        or (request.service, request.operation, request.outcome) in keys
    )


@dataclass(frozen=True)
class Charging:
    """Which requests are setup, shared awaiting, or awaiting at all.

    ``delivery`` overrides the rest: requests that the other sets would call awaiting but that
    brought a task's completion (a long poll that returned messages) are charged per task, like
    the marker read they replace, and are not awaiting.
    """

    setup: frozenset[Key] = frozenset()
    shared: frozenset[Key] = frozenset()
    awaiting: frozenset[Key] = frozenset()
    delivery: frozenset[Key] = frozenset()

    def kind(self, request: Request) -> str:
        if _matches(request, self.delivery):
            return PER_TASK
        if _matches(request, self.setup):
            return SETUP
        if _matches(request, self.shared):
            return SHARED
        return PER_TASK

    def is_awaiting(self, request: Request) -> bool:
        return _matches(request, self.awaiting) and not _matches(request, self.delivery)


# How each executor's requests are charged (recorded with each run, read back by the report).
_ECR = ("ecr", "*")
# The process's wake-up queue: found (abandoned ones removed), created, kept alive, deleted.
_WAKE_QUEUE_SETUP = {
    ("sqs", "ListQueues"),
    ("sqs", "ListQueueTags"),
    ("sqs", "CreateQueue"),
    ("sqs", "TagQueue"),
    ("sqs", "DeleteQueue"),
}
# Process-wide waiting: the wake-up queue's long polls, the marker listing (a fallback while the
# queue answers) and the lost-event sweep (ListExecutions, then DescribeExecution for a task
# whose execution ended without a marker).
_WAITING = {
    ("sqs", "ReceiveMessage"),
    ("s3", "ListObjectsV2"),
    ("sfn", "ListExecutions"),
    ("sfn", "DescribeExecution"),
}
# Packed or not, the product's executor makes the same kinds of requests.
_EVENT_DRIVEN = Charging(
    setup=frozenset(
        {("sts", "GetCallerIdentity"), ("s3", "GetBucketLocation"), _ECR}
        # The definition gate reads one execution's history, once per definition and process;
        # the state machine is described once per process (it exists; it runs packs).
        | {("sfn", "GetExecutionHistory"), ("sfn", "DescribeStateMachine")}
        | _WAKE_QUEUE_SETUP
    ),
    shared=frozenset(_WAITING),
    awaiting=frozenset(_WAITING),
    # A long poll that returned messages brought completions: charged per task, like the
    # marker GetObject it replaces, and not awaiting.
    delivery=frozenset({("sqs", "ReceiveMessage", MESSAGES)}),
)
CHARGING = {
    "ours": _EVENT_DRIVEN,
    "packed": _EVENT_DRIVEN,
    "polling": Charging(
        setup=frozenset({("sts", "GetCallerIdentity"), _ECR}),
        awaiting=frozenset({("batch", "DescribeJobs")}),
    ),
}


class RequestCounter:
    """Records every request sent by the clients of the sessions it is attached to."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._sent = threading.local()  # .index: this thread's request awaiting its answer

    def attach(self, session: Any) -> None:
        """Count the requests of every client made from this boto3 session from now on."""
        session.events.register("before-send", self._on_send)
        session.events.register("after-call", self._on_answer)
        session.events.register("after-call-error", self._on_failure)

    def _on_send(self, event_name: str = "", **_: Any) -> None:
        parts = event_name.split(".")
        service, operation = (parts[1], parts[2]) if len(parts) >= 3 else ("?", "?")
        with self._lock:
            # botocore retries in the thread that sent: an unanswered request is being retried.
            self._mark(RETRIED)
            self.requests.append(Request(time.monotonic(), service, operation))
            self._sent.index = len(self.requests) - 1
        # Returning None lets botocore send the request as usual.

    def _on_answer(
        self,
        event_name: str = "",
        parsed: Mapping[str, Any] | None = None,
        http_response: Any = None,
        **_: Any,
    ) -> None:
        operation = event_name.split(".")[2] if event_name.count(".") >= 2 else "?"
        status = getattr(http_response, "status_code", None)
        with self._lock:
            self._mark(outcome_of(operation, parsed, status))

    def _on_failure(self, **_: Any) -> None:
        with self._lock:
            self._mark(ERROR)

    def _mark(self, outcome: str) -> None:
        """Give this thread's pending request its outcome (caller holds the lock)."""
        index = getattr(self._sent, "index", None)
        if index is None:
            return
        self.requests[index] = replace(self.requests[index], outcome=outcome)
        self._sent.index = None


def by_operation(requests: Iterable[Request]) -> dict[str, int]:
    """Counts keyed "service:Operation", most frequent first."""
    counts = Counter(f"{r.service}:{r.operation}" for r in requests)
    return dict(counts.most_common())


def by_label(requests: Iterable[Request]) -> dict[str, int]:
    """Counts keyed by Request.label (long polls split by outcome), most frequent first."""
    return dict(Counter(r.label for r in requests).most_common())


def between(requests: Iterable[Request], start: float, end: float) -> list[Request]:
    return [r for r in requests if start <= r.at <= end]


def succeeded(requests: Iterable[Request], service: str, operation: str) -> int:
    """Calls of one operation that were answered without error (retried attempts left out)."""
    return sum(
        1
        for r in requests
        if (r.service, r.operation) == (service, operation) and r.outcome in (OK, UNKNOWN)
    )


def aggregate(
    requests: list[Request], charging: Charging, tasks: int, window_s: float
) -> dict[str, Any]:
    """Per-task attributable and amortized request counts, and the awaiting rate.

    ``window_s`` is how long tasks were in flight (first run() call to last return): the
    awaiting requests per second over it is the process-wide cost of waiting.
    """
    kinds = Counter(charging.kind(r) for r in requests)
    awaiting = [r for r in requests if charging.is_awaiting(r)]
    batch = [r for r in requests if r.service == "batch"]
    per = max(tasks, 1)
    return {
        "total": len(requests),
        "setup": kinds[SETUP],
        "shared": kinds[SHARED],
        "per_task_attributable": kinds[PER_TASK] / per,
        "per_task_amortized": (kinds[PER_TASK] + kinds[SHARED]) / per,
        # Everything the process asked, setup included, per task: "all in".
        "per_task_with_setup": len(requests) / per,
        "batch_requests": len(batch),
        "awaiting_requests": len(awaiting),
        "awaiting_per_s": len(awaiting) / window_s if window_s > 0 else 0.0,
        "awaiting_per_s_by_operation": {
            k: v / window_s if window_s > 0 else 0.0 for k, v in by_label(awaiting).items()
        },
        "by_operation": by_operation(requests),
        "by_label": by_label(requests),
        "by_operation_per_task": {k: v / per for k, v in by_operation(requests).items()},
        "outcomes": dict(Counter(r.outcome or "unknown" for r in requests).most_common()),
    }
