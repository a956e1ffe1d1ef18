"""Turn a completion event into a marker document and write it once.

Standard library and boto3 only: this runs in the Lambda runtime. Two kinds of event arrive:

* "Task Finished" from the state machine: ``detail`` holds ``Marker`` (bucket and key), ``Status``,
  ``ExecutionArn`` and either ``Job`` (the Batch job document) or ``Error`` and ``Cause``;
* "Step Functions Execution Status Change": ``detail.input`` is the execution input (a JSON
  string) holding ``Marker``; it covers executions stopped, timed out or failed outside the Catch.
  AWS documents its detail as DescribeExecution's fields without ``error`` and ``cause``, and
  leaves ``input`` out of large events: what is missing is read with DescribeExecution.

The two events of one execution race (two Lambda invocations, in either order), so both yield
the same job id, exit code, reason, attempts and log stream. The first outcome written wins: S3's
conditional write (If-None-Match: *) makes a duplicate or late event a no-op, so a marker never
flips from one outcome to another. Sample events, as AWS documents them: ``tests/fixtures/aws``.
"""

from __future__ import annotations

import datetime
import json
import threading
from typing import Any

from .usage import _get, job_usage

MARKER_VERSION = 1
# The state machine's Fail state reports the caught error under this prefix, as the States
# Language reserves "States." names (statemachine/definition.py, FAILED_ERROR_PREFIX).
FAILED_ERROR_PREFIX = "EventBatch."
_TERMINAL_EXECUTION_STATES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}


class InvalidEvent(ValueError):
    """The event lacks what a marker needs; retrying will not help."""


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
        doc.update(_failure_fields(detail.get("Error"), detail.get("Cause")))
    return location, doc


def _failure_fields(error: Any, cause: Any) -> dict:
    """Marker fields of a failure, from the Error and Cause Step Functions recorded.

    When batch:submitJob.sync fails because the job failed, the Cause is the job's description
    as a JSON string (DescribeJobs' job detail, PascalCase): its fields are what the user needs,
    and the string itself (which also holds the job's retry rules and environment) is not
    passed on, so that no advice is drawn from text that is not a reason.
    """
    job = _parse_json(cause)
    if isinstance(job, dict) and (_get(job, "JobId") or _get(job, "Status")):
        return {**_job_fields(job), "error": error, "cause": None}
    return {"reason": cause or error, "error": error, "cause": cause}


def execution_needs_description(execution: dict) -> bool:
    """Whether an execution status event lacks what its marker needs (DescribeExecution has it).

    AWS leaves ``input`` out (``inputDetails.included`` false) when the escaped input and output
    together exceed about 248 KiB, and ``output`` when it alone does; the event's documented
    fields do not include ``error`` and ``cause`` at all.
    """
    status = execution.get("status")
    if status not in _TERMINAL_EXECUTION_STATES:
        return False
    if not _included(execution, "input"):
        return True
    if status == "SUCCEEDED":
        return not _included(execution, "output")
    # Absent, or null as for an execution stopped without them: DescribeExecution tells.
    return not execution.get("error") and not execution.get("cause")


def _included(execution: dict, name: str) -> bool:
    details = execution.get(f"{name}Details")
    if isinstance(details, dict) and details.get("included") is False:
        return False
    return isinstance(execution.get(name), str)


def marker_from_execution(
    execution: dict, source: str, location: dict | None = None
) -> tuple[dict, dict] | None:
    """(location, document) for a finished execution, or None while it runs.

    ``execution`` is an execution status event's ``detail`` or a DescribeExecution response
    (the same fields). The document is the one the "Task Finished" event of the same execution
    yields: a SUCCEEDED execution's output is that event's detail (see
    ``statemachine/definition.py``), and a FAILED one's error and cause are the Catch's.
    """
    status = execution.get("status")
    if status not in _TERMINAL_EXECUTION_STATES:
        return None
    if location is None:
        execution_input = _parse_json(execution.get("input"))
        if not isinstance(execution_input, dict):
            raise InvalidEvent("execution status event without the execution input")
        location = _location(execution_input.get("Marker"))
    doc = new_marker(status, source, execution.get("executionArn"))
    if status == "SUCCEEDED":
        output = _parse_json(execution.get("output"))
        if isinstance(output, dict):
            # "JobResult": the output of executions started before the output was the outcome.
            doc.update(_job_fields(output.get("Job") or output.get("JobResult")))
    else:
        error = execution.get("error")
        if isinstance(error, str) and error.startswith(FAILED_ERROR_PREFIX):
            error = error[len(FAILED_ERROR_PREFIX) :]  # the error the Catch caught
        doc.update(_failure_fields(error, execution.get("cause")))
    return location, doc


def marker_from_execution_event(detail: dict) -> tuple[dict, dict] | None:
    """(location, document) for an execution status change, or None when it is not terminal."""
    return marker_from_execution(detail, "execution-status")


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
    location = {"Bucket": bucket, "Key": key}
    wake = _get(marker, "Wake")
    if isinstance(wake, str):
        location["Wake"] = wake  # the waiting process's queue (chalice_app/wakeups.py)
    return location


# S3 conditional writes (If-None-Match: *) are sent as a header added here rather than through
# PutObject's IfNoneMatch parameter, which botocore models only from 1.35.2 on: the Lambda runs on
# whatever SDK its runtime bundles, and the executor declares an older floor (pyproject.toml).
# https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
_IF_NONE_MATCH_FLAG = "eventbatch_if_none_match"
# 412: an object exists under the key; 409: a concurrent write to the key won; both mean "taken".
_TAKEN = ("PreconditionFailed", "ConditionalRequestConflict")


def _take_if_none_match(params: dict, context: dict, **_: Any) -> None:
    """provide-client-params: move IfNoneMatch out of the parameters botocore validates."""
    if params.get("IfNoneMatch") == "*":
        del params["IfNoneMatch"]
        context[_IF_NONE_MATCH_FLAG] = True


def _send_if_none_match(params: dict, context: dict, **_: Any) -> None:
    """before-call: add the header to the serialized request (it is signed after this)."""
    if context.get(_IF_NONE_MATCH_FLAG):
        params["headers"]["If-None-Match"] = "*"


_registering = threading.Lock()


def enable_conditional_put(s3: Any) -> None:
    """Let ``s3.put_object(IfNoneMatch="*")`` work with any botocore (once per client).

    The executor shares one client between threads: the handlers are registered once, under a
    lock, rather than on every call while other threads' requests emit events.
    """
    with _registering:
        if getattr(s3.meta, "eventbatch_conditional_put", False):
            return
        s3.meta.events.register_first(
            "provide-client-params.s3.PutObject",
            _take_if_none_match,
            unique_id="eventbatch-take-if-none-match",
        )
        s3.meta.events.register_last(
            "before-call.s3.PutObject",
            _send_if_none_match,
            unique_id="eventbatch-send-if-none-match",
        )
        s3.meta.eventbatch_conditional_put = True


def write_once(s3: Any, location: dict, doc: dict) -> bool:
    """Write the marker unless one exists; True when this call wrote it."""
    enable_conditional_put(s3)
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
        if exc.response.get("Error", {}).get("Code") in _TAKEN:
            return False
        raise
