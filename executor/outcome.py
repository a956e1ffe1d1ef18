"""Explain a failed task to the user from its marker and the runner's report (io.json).

The marker carries what Batch or Step Functions recorded (status reason, exit code, attempts,
error and cause); io.json carries the task's own exception. Both are turned into one message
that says what happened and, where a setting can fix it, which one.
"""

from __future__ import annotations

from typing import Any

# Substrings of Batch/Step Functions reasons, and the advice that goes with them.
_HINTS: list[tuple[str, str]] = [
    ("OutOfMemoryError", "the task ran out of memory: raise 'memory' (GiB)"),
    ("attemptDurationSeconds", "the attempt ran past its time limit: raise 'time_limit' (s)"),
    (
        "Job attempt duration exceeded",
        "the attempt ran past its time limit: raise 'time_limit' (s)",
    ),
    (
        "CannotPullContainerError",
        "the image could not be pulled: check 'container_image_uri' or "
        "'ecr_repo_name' and that the execution role may read ECR",
    ),
    ("JobQueue", "check 'batch_queue' names an existing, VALID and ENABLED job queue"),
    ("job queue", "check 'batch_queue' names an existing, VALID and ENABLED job queue"),
    ("Host EC2", "the instance was reclaimed; the job is retried up to 'retry_attempts' times"),
    ("Terminated", "the job was terminated (cancelled, or stopped by an operator)"),
    # Last: a timed-out attempt is killed with 137 too, and its reason says so more precisely.
    ("exit code 137", "the container was killed (often out of memory): raise 'memory' (GiB)"),
]


def _hint(*texts: Any) -> str:
    joined = " ".join(str(t) for t in texts if t)
    for needle, hint in _HINTS:
        if needle.lower() in joined.lower():
            return f"\nHint: {hint}."
    return ""


def _attempt_seconds(marker: dict[str, Any]) -> float | None:
    started, stopped = marker.get("started_at"), marker.get("stopped_at")
    if isinstance(started, (int, float)) and isinstance(stopped, (int, float)):
        return (stopped - started) / 1000
    return None


def describe_failure(
    marker: dict[str, Any], io: dict[str, Any], time_limit: int | None = None
) -> str:
    status = marker.get("status", "FAILED")
    job_id = marker.get("job_id")
    where = f"AWS Batch job {job_id}" if job_id else "The task"
    attempts = marker.get("attempts")
    tried = f" after {attempts} attempt{'s' if attempts != 1 else ''}" if attempts else ""
    exception = io.get("exception")
    if exception:
        return (
            f"{exception.get('type')}: {exception.get('message')}\n"
            f"(raised in {where}{tried}; exit status {io.get('exit_status')})\n\n"
            f"Remote traceback:\n{exception.get('traceback', '').rstrip()}"
        )
    reason = marker.get("reason")
    ran = _attempt_seconds(marker)
    if not reason and ran is not None and time_limit and ran >= time_limit - 1:
        # Not every Batch (nor moto) records a reason for a timeout; the duration tells.
        reason = (
            f"the attempt ran {ran:.0f} s, reaching its time limit "
            f"(attemptDurationSeconds={time_limit})"
        )
    exit_code = marker.get("exit_code")
    if exit_code is None:
        exit_code = io.get("exit_status")
    if status in ("ABORTED", "TIMED_OUT"):
        headline = f"The task's Step Functions execution ended {status}"
    elif not job_id and marker.get("error"):
        headline = f"The task never ran: Step Functions reported {marker.get('error')}"
    else:
        headline = f"{where} failed{tried}"
    details = []
    if reason:
        details.append(f"reason: {reason}")
    if exit_code is not None:
        details.append(f"exit code: {exit_code}")
    if marker.get("cause") and marker.get("cause") != reason:
        details.append(f"cause: {marker['cause']}")
    if marker.get("log_stream"):
        details.append(f"log stream: {marker['log_stream']}")
    if not details and "log_tail" in io and not io["log_tail"]:
        # No reason, no exit code, no report from the runner and no log line at all.
        details.append(
            "the container left no output and no exit code: it most likely never started. "
            "Check that the image can be pulled ('container_image_uri', 'ecr_repo_name') by the "
            "execution role ('batch_execution_role_name')"
        )
    body = "\n".join(f"  {d}" for d in details)
    logs = io.get("log_tail")
    tail = f"\nLast lines of the container's log:\n{logs}" if logs else ""
    # An exit code of 137 (SIGKILL) says "killed" even when Batch recorded no reason.
    code = f"exit code {exit_code}" if exit_code is not None else None
    hint = _hint(reason, marker.get("cause"), marker.get("error"), code)
    return f"{headline}.\n{body}{hint}{tail}"
