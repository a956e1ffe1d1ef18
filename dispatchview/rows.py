"""One row per electron, from what AWS recorded: its stage, times, attempts, outcome and usage.

Pure functions of a ``Snapshot`` (dispatchview/reads.py), so that every stage can be tested with
the documents AWS records. The stage comes from the most final record there is:

    marker (the Lambda wrote the outcome)            succeeded / failed / stopped / timed out
    Batch job status (DescribeJobs)                  job submitted (SUBMITTED, PENDING),
                                                     waiting for capacity (RUNNABLE),
                                                     starting container (STARTING), running,
                                                     finishing (ended, outcome not yet recorded)
    execution RUNNING, no job yet                    starting execution
    no execution                                     not started (payload uploaded)
    execution ended, no marker                       the execution's status, "no marker"
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from covalent_eventbatch.chalice_app.usage import job_usage
from covalent_eventbatch.executor import console
from covalent_eventbatch.executor.settings import ExecutorSettings

from .pricing import Prices
from .reads import NodeRecord, Snapshot

_JOB_STAGES = {
    "SUBMITTED": "job submitted",
    "PENDING": "job submitted",
    "RUNNABLE": "waiting for capacity",
    "STARTING": "starting container",
    "RUNNING": "running",
    "SUCCEEDED": "finishing",
    "FAILED": "finishing",
}
_OUTCOMES = {
    "SUCCEEDED": "succeeded",
    "FAILED": "failed",
    "ABORTED": "stopped",
    "TIMED_OUT": "timed out",
}
_USAGE_KEYS = ("vcpu_seconds", "gib_seconds", "gpu_seconds")
ESTIMATES_NOTE = (
    "resource-seconds are requested resources x each attempt's running time as Batch records "
    "it; dollars are estimates (Fargate bills from the image pull, one-minute minimum; EC2 "
    "bills instances)"
)


@dataclass
class ElectronRow:
    node_id: int
    name: str | None
    stage: str
    ended: bool
    outcome: str | None
    queued_seconds: float | None
    running_seconds: float | None
    attempts: int | None
    exit_code: int | None
    reason: str | None
    job_id: str | None
    execution_arn: str | None
    log_group: str | None
    log_stream: str | None
    links: dict[str, str] = field(default_factory=dict)
    usage: dict[str, Any] | None = None
    usage_recorded: bool = False  # from the marker (final) rather than computed now
    estimated_cost_usd: float | None = None
    # How each attempt ended, oldest first, when Batch ran more than one (retries).
    attempt_endings: list[str] = field(default_factory=list)


def _get(doc: Any, key: str) -> Any:
    return doc.get(key) if isinstance(doc, dict) else None


def log_group_of(job: dict[str, Any] | None, settings: ExecutorSettings) -> str:
    """The awslogs group the job wrote to, as its container says; else the configured one."""
    container = _get(job, "container") or {}
    options = _get(_get(container, "logConfiguration"), "options") or {}
    return str(options.get("awslogs-group") or settings.batch_job_log_group_name)


def log_streams(record: NodeRecord) -> list[str]:
    """Every attempt's log stream, oldest first (each attempt writes its own)."""
    streams: list[str] = []
    job = record.job or {}
    for attempt in job.get("attempts") or []:
        stream = _get(_get(attempt, "container"), "logStreamName")
        if stream and stream not in streams:
            streams.append(stream)
    current = _get(job.get("container"), "logStreamName")
    if current and current not in streams:
        streams.append(current)
    marker_stream = _get(record.marker, "log_stream")
    if marker_stream and marker_stream not in streams:
        streams.append(marker_stream)
    return streams


def attempt_endings(job: dict[str, Any] | None) -> list[str]:
    """Each ended attempt of the job: its exit code and status reason, as Batch recorded them."""
    endings = []
    for attempt in _get(job, "attempts") or []:
        if not _get(attempt, "stoppedAt"):
            continue
        code = _get(_get(attempt, "container"), "exitCode")
        reason = _get(_get(attempt, "container"), "reason") or _get(attempt, "statusReason")
        parts = ([] if code is None else [f"exit {code}"]) + ([reason] if reason else [])
        endings.append("; ".join(parts) or "ended")
    return endings


def stage_of(record: NodeRecord) -> tuple[str, bool, str | None]:
    """(stage, ended, outcome)."""
    if record.marker is not None:
        outcome = _OUTCOMES.get(str(record.marker.get("status")), "ended")
        return outcome, True, outcome
    if record.execution_status is None:
        return "not started", False, None
    if record.execution_status != "RUNNING":
        outcome = _OUTCOMES.get(record.execution_status, record.execution_status.lower())
        return f"{outcome} (no marker)", True, outcome
    if record.job is not None:
        return _JOB_STAGES.get(str(record.job.get("status")), "job submitted"), False, None
    return "starting execution", False, None


def _queued_seconds(job: dict[str, Any] | None, usage: dict[str, Any] | None, now_ms: int) -> Any:
    created = _get(job, "createdAt") or _get(usage, "created_at")
    if not isinstance(created, int):
        return None
    starts = [a["started_at"] for a in (usage or {}).get("attempts", []) if a.get("started_at")]
    started = min(starts) if starts else _get(job, "startedAt")
    if isinstance(started, int):
        return round(max(0, started - created) / 1000, 3)
    stopped = _get(job, "stoppedAt")
    end = stopped if isinstance(stopped, int) else now_ms
    return round(max(0, end - created) / 1000, 3)


def _exit_code(record: NodeRecord) -> Any:
    code = _get(record.marker, "exit_code")
    if code is None:
        code = _get(_get(record.job, "container"), "exitCode")
    if code is None:
        attempts = _get(record.job, "attempts") or []
        code = _get(_get(attempts[-1], "container"), "exitCode") if attempts else None
    return code


def electron_row(
    record: NodeRecord,
    snapshot: Snapshot,
    settings: ExecutorSettings,
    prices: Prices,
    name: str | None = None,
) -> ElectronRow:
    stage, ended, outcome = stage_of(record)
    usage = _get(record.marker, "usage")
    recorded = usage is not None
    if usage is None and record.job is not None:
        usage = job_usage(record.job, None if ended else snapshot.taken_at_ms)
    marker_attempts = _get(record.marker, "attempts")
    attempts = marker_attempts if marker_attempts is not None else None
    if attempts is None and record.job is not None:
        attempts = len(record.job.get("attempts") or []) or (
            1 if record.job.get("status") == "RUNNING" else 0
        )
    streams = log_streams(record)
    group = log_group_of(record.job, settings)
    region, partition = snapshot.region, snapshot.partition
    links: dict[str, str] = {}
    if record.execution_arn:
        links["execution"] = console.execution_url(record.execution_arn, region, partition)
    if record.job_id:
        links["job"] = console.job_url(record.job_id, region, partition)
    if streams:
        links["log_stream"] = console.log_stream_url(group, streams[-1], region, partition)
    reason = _get(record.marker, "reason") or _get(record.job, "statusReason")
    return ElectronRow(
        node_id=record.node_id,
        name=name,
        stage=stage,
        ended=ended,
        outcome=outcome,
        queued_seconds=_queued_seconds(record.job, usage, snapshot.taken_at_ms),
        running_seconds=usage["seconds"] if usage else None,
        attempts=attempts,
        exit_code=_exit_code(record),
        reason=reason,
        job_id=record.job_id,
        execution_arn=record.execution_arn,
        log_group=group if streams else None,
        log_stream=streams[-1] if streams else None,
        links=links,
        usage=usage,
        usage_recorded=recorded,
        estimated_cost_usd=prices.estimate(usage, settings.platform),
        attempt_endings=attempt_endings(record.job),
    )


@dataclass
class DispatchStatus:
    dispatch_id: str
    region: str
    state_machine_arn: str
    taken_at_ms: int
    electrons: list[ElectronRow]
    total: dict[str, Any]
    prices: str
    estimates: str = ESTIMATES_NOTE

    @property
    def all_ended(self) -> bool:
        return all(row.ended for row in self.electrons)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def dispatch_status(
    snapshot: Snapshot,
    settings: ExecutorSettings,
    names: dict[int, str] | None = None,
) -> DispatchStatus:
    prices = Prices.for_region(settings, snapshot.region)
    rows = [
        electron_row(record, snapshot, settings, prices, (names or {}).get(node_id))
        for node_id, record in sorted(snapshot.nodes.items())
    ]
    total: dict[str, Any] = {
        "electrons": len(rows),
        "ended": sum(r.ended for r in rows),
        "attempts": sum(r.attempts or 0 for r in rows),
    }
    for key in _USAGE_KEYS:
        total[key] = round(sum((r.usage or {}).get(key, 0.0) for r in rows), 3)
    costs = [r.estimated_cost_usd for r in rows if r.estimated_cost_usd is not None]
    total["estimated_cost_usd"] = round(sum(costs), 6) if costs else None
    total["estimated_cost_covers"] = len(costs)
    return DispatchStatus(
        snapshot.dispatch_id,
        snapshot.region,
        snapshot.state_machine_arn,
        snapshot.taken_at_ms,
        rows,
        total,
        prices.note,
    )
