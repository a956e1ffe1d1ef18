"""Turn a completion event into a marker document and write it once.

Standard library and boto3 only: this runs in the Lambda runtime. Two kinds of event arrive:

* "Task Finished" from the state machine: ``detail`` holds ``Marker`` (bucket and key), ``Status``,
  ``ExecutionArn`` and either ``Job`` (the Batch job document) or ``Error`` and ``Cause``;
* "Step Functions Execution Status Change": ``detail.input`` is the execution input (a JSON
  string) holding ``Marker``; it covers executions stopped, timed out or failed outside the Catch.

The first outcome written wins: S3's conditional write (If-None-Match: *) makes a duplicate or
late event a no-op, so a marker never flips from one outcome to another.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

from chalice_app.usage import job_usage

MARKER_VERSION = 1
_TERMINAL_EXECUTION_STATES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class InvalidEvent(ValueError):
    """The event lacks what a marker needs; retrying will not help."""


def _get(doc: Any, name: str) -> Any:
    """Read a key in PascalCase or camelCase (Step Functions and Batch differ)."""
    if not isinstance(doc, dict):
        return None
    if name in doc:
        return doc[name]
    return doc.get(name[:1].lower() + name[1:])


def _job_fields(job: Any) -> dict:
    if not isinstance(job, dict):
        return {}
    attempts = _get(job, "Attempts") or []
    last = attempts[-1] if attempts else {}
    container = _get(job, "Container") or _get(last, "Container") or {}
    last_container = _get(last, "Container") or {}
    exit_code = _get(container, "ExitCode")
    if exit_code is None:
        exit_code = _get(last_container, "ExitCode")
    reasons = [
        _get(job, "StatusReason"),
        _get(last, "StatusReason"),
        _get(container, "Reason") or _get(last_container, "Reason"),
    ]
    return {
        "job_id": _get(job, "JobId"),
        "job_status": _get(job, "Status"),
        "attempts": len(attempts),
        "exit_code": exit_code,
        "reason": "; ".join(dict.fromkeys(r for r in reasons if r)) or None,
        "log_stream": _get(container, "LogStreamName") or _get(last_container, "LogStreamName"),
        # Milliseconds since the epoch, of the last attempt: how long it ran.
        "started_at": _get(last, "StartedAt") or _get(job, "StartedAt"),
        "stopped_at": _get(last, "StoppedAt") or _get(job, "StoppedAt"),
        # Requested resources x each attempt's running time (chalice_app/usage.py).
        "usage": job_usage(job),
    }


def _parse_json(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def marker_from_task_event(detail: dict) -> tuple[dict, dict]:
    """(marker location, marker document) for a "Task Finished" event."""
    location = _location(detail.get("Marker"))
    status = detail.get("Status")
    if status not in ("SUCCEEDED", "FAILED"):
        raise InvalidEvent(f"Task Finished event with unknown Status {status!r}")
    doc = new_marker(status, "task-finished", detail.get("ExecutionArn"))
    if status == "SUCCEEDED":
        doc.update(_job_fields(detail.get("Job")))
    else:
        cause = detail.get("Cause")
        job = _parse_json(cause)
        if isinstance(job, dict) and (_get(job, "JobId") or _get(job, "Status")):
            doc.update(_job_fields(job))  # SubmitJob.sync failed: the cause is the job document
        else:
            doc["reason"] = cause
        doc["error"] = detail.get("Error")
        doc["cause"] = cause if not isinstance(job, dict) else None
    return location, doc


def marker_from_execution_event(detail: dict) -> tuple[dict, dict] | None:
    """(location, document) for an execution status change, or None when it is not terminal."""
    status = detail.get("status")
    if status not in _TERMINAL_EXECUTION_STATES:
        return None
    execution_input = _parse_json(detail.get("input"))
    if not isinstance(execution_input, dict):
        raise InvalidEvent("execution status event without the execution input")
    location = _location(execution_input.get("Marker"))
    # A SUCCEEDED execution has already announced itself; if that event was lost this still
    # records the end, without job details.
    doc = new_marker(status, "execution-status", detail.get("executionArn"))
    doc["error"] = detail.get("error")
    doc["cause"] = detail.get("cause")
    doc["reason"] = detail.get("cause") or detail.get("error")
    return location, doc


def new_marker(status: str, source: str, execution_arn: Any) -> dict:
    """Every marker has every field, None where the event did not say."""
    return {
        "version": MARKER_VERSION,
        "status": status,
        "source": source,
        "execution_arn": execution_arn,
        "job_id": None,
        "job_status": None,
        "attempts": None,
        "exit_code": None,
        "reason": None,
        "log_stream": None,
        "started_at": None,
        "stopped_at": None,
        "usage": None,
        "error": None,
        "cause": None,
        "written_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }


def _location(marker: Any) -> dict:
    bucket, key = _get(marker, "Bucket"), _get(marker, "Key")
    if not bucket or not key:
        raise InvalidEvent("event has no Marker {Bucket, Key}")
    if "markers/" not in key or not key.endswith(".json"):
        raise InvalidEvent(f"marker key {key!r} is outside a markers/ prefix")
    return {"Bucket": bucket, "Key": key}


def write_once(s3: Any, location: dict, doc: dict) -> bool:
    """Write the marker unless one exists; True when this call wrote it."""
    try:
        s3.put_object(
            Bucket=location["Bucket"],
            Key=location["Key"],
            Body=json.dumps(doc).encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
        return True
    except s3.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("PreconditionFailed", "ConditionalRequestConflict"):
            return False
        raise
