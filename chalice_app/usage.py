"""What a Batch job used: requested resources times each attempt's running time.

Standard library only: the Lambda stores this in the marker when the electron ends, and
``eventbatch status`` computes the same, from the same function, for a job still running.

The job document is Batch's DescribeJobs record (camelCase), or the same record as Step Functions
hands it on after ``batch:submitJob.sync`` (PascalCase). The requested resources are the job's
container ``resourceRequirements`` (the task's overrides applied), else the older ``vcpus`` and
``memory`` fields. An attempt runs from its ``startedAt`` to its ``stoppedAt`` (milliseconds since
the epoch, as Batch records them); an attempt that never started counts zero.

These are resource-seconds as requested, not a bill: Fargate bills from the image pull on, with
a one-minute minimum, and EC2 bills instances, not jobs.
"""

from __future__ import annotations

from typing import Any

USAGE_VERSION = 1
_TERMINAL = ("SUCCEEDED", "FAILED")


def _get(doc: Any, name: str) -> Any:
    """A key in PascalCase or camelCase (Step Functions and Batch differ)."""
    if not isinstance(doc, dict):
        return None
    if name in doc:
        return doc[name]
    return doc.get(name[:1].lower() + name[1:])


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def requested_resources(job: Any) -> tuple[float, float, float] | None:
    """(vCPUs, memory in GiB, GPUs) the job asked for; None when the document does not say."""
    container = _get(job, "Container") or {}
    found: dict[str, float] = {}
    for requirement in _get(container, "ResourceRequirements") or []:
        kind = str(_get(requirement, "Type") or "").upper()
        value = _number(_get(requirement, "Value"))
        if kind and value is not None:
            found[kind] = value
    vcpu = found.get("VCPU", _number(_get(container, "Vcpus")))
    memory_mib = found.get("MEMORY", _number(_get(container, "Memory")))
    if vcpu is None or memory_mib is None:
        return None
    return vcpu, memory_mib / 1024, found.get("GPU", 0.0)


def _attempt_spans(job: Any, now_ms: int | None) -> list[tuple[int | None, int | None]]:
    spans: list[tuple[int | None, int | None]] = []
    for attempt in _get(job, "Attempts") or []:
        spans.append((_get(attempt, "StartedAt"), _get(attempt, "StoppedAt")))
    started = _get(job, "StartedAt")
    status = _get(job, "Status")
    # AWS lists an attempt once it has ended; the one in progress is the job's own startedAt.
    last_stop = max((s for _, s in spans if isinstance(s, int)), default=None)
    if (
        status == "RUNNING"
        and isinstance(started, int)
        and not any(stop is None and start == started for start, stop in spans)
        and (last_stop is None or started > last_stop)
    ):
        spans.append((started, None))
    if now_ms is None and status not in _TERMINAL:
        return [(a, b) for a, b in spans if b is not None]
    return spans


def _seconds(start: Any, stop: Any, now_ms: int | None) -> float:
    if not isinstance(start, int):
        return 0.0
    end = stop if isinstance(stop, int) else now_ms
    if not isinstance(end, int) or end < start:
        return 0.0
    return (end - start) / 1000


def job_usage(job: Any, now_ms: int | None = None) -> dict[str, Any] | None:
    """Per-attempt and total vCPU-, GiB- and GPU-seconds of a Batch job document.

    ``now_ms`` (milliseconds since the epoch) counts an attempt still running up to that moment;
    without it only ended attempts count. None when the document names no resources, or is not
    shaped as expected: a usage figure must never keep the Lambda from writing the marker.
    """
    try:
        return _usage(job, now_ms)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError):
        return None


def _usage(job: Any, now_ms: int | None) -> dict[str, Any] | None:
    resources = requested_resources(job)
    if resources is None:
        return None
    vcpu, gib, gpus = resources
    attempts: list[dict[str, Any]] = []
    for start, stop in _attempt_spans(job, now_ms):
        seconds = _seconds(start, stop, now_ms)
        attempts.append(
            {
                "started_at": start,
                "stopped_at": stop,
                "seconds": round(seconds, 3),
                "vcpu_seconds": round(seconds * vcpu, 3),
                "gib_seconds": round(seconds * gib, 3),
                "gpu_seconds": round(seconds * gpus, 3),
            }
        )
    platforms = _get(job, "PlatformCapabilities") or []
    usage: dict[str, Any] = {
        "version": USAGE_VERSION,
        "vcpu": vcpu,
        "memory_gib": gib,
        "gpus": gpus,
        "platform": str(platforms[0]) if isinstance(platforms, list) and platforms else None,
        "created_at": _get(job, "CreatedAt"),
        "attempts": attempts,
    }
    for key in ("seconds", "vcpu_seconds", "gib_seconds", "gpu_seconds"):
        usage[key] = round(sum(a[key] for a in attempts), 3)
    return usage
