"""Record, when a pack's array job ends, the electrons whose child could not record itself.

Standard library and boto3 only (this runs in the Lambda runtime). Each child of a pack's array
job announces its own electron; a child killed for memory, stopped at its time limit, whose host
was reclaimed or that was terminated cannot, and neither can one whose announcement did not get
through (throttled, no route to EventBridge, a role without events:PutEvents). When the array job
fails, the pack's "Task Finished" event carries the manifest (array index -> electron marker) and
the parent job (or the error that kept it from being submitted). From Batch's lists of the
children (ListJobs arrayJobId, FAILED and SUCCEEDED), each electron gets a marker with its own
child's outcome: a FAILED child's with its reason and log stream (DescribeJobs: ListJobs'
summary has no log stream), a SUCCEEDED child's as succeeded, whatever its siblings did.
Write-once keeps what a child wrote itself. A pack that SUCCEEDED has nothing to add: every
child ran to its end, and an electron whose announcement was lost gets its marker from the
executor's sweep, whose result the executor then finds stored.

The markers are written by a pool of threads within a time budget (a bad image fails all of a
pack's up to 10,000 children at once, and the function has 30 s); what the budget leaves is
handed on: the handler sends the same event again with ``Pending``, the ranges of entries left.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .markers import _get, _job_fields, _location, _parse_json, new_marker, write_once


def _parent_job_id(detail: dict) -> str | None:
    job = detail.get("Job")
    if not isinstance(job, dict):
        job = _parse_json(detail.get("Cause"))
    return _get(job, "JobId") if isinstance(job, dict) else None


def child_index(summary: dict) -> int | None:
    """A child's index: arrayProperties.index, else the ``PARENT:INDEX`` job id's suffix."""
    index = (summary.get("arrayProperties") or {}).get("index")
    if isinstance(index, int):
        return index
    suffix = str(summary.get("jobId", "")).rpartition(":")[2]
    return int(suffix) if suffix.isdigit() else None


# Threads writing markers at once, and the time left unused for the function's own end.
WRITERS = 32
BUDGET_S = 22.0
_CHUNK = 100  # DescribeJobs takes at most 100 job ids: one call per chunk of entries
_PAGE = 1000  # ListJobs' largest page


def children_with_status(batch: Any, array_job_id: str, status: str) -> dict[int, dict]:
    """Index -> ListJobs summary of every child with this status (reason, exit code included)."""
    found: dict[int, dict] = {}
    for page in batch.get_paginator("list_jobs").paginate(
        arrayJobId=array_job_id, jobStatus=status, PaginationConfig={"PageSize": _PAGE}
    ):
        for summary in page.get("jobSummaryList", []):
            index = child_index(summary)
            if index is not None:
                found[index] = summary
    return found


def failed_children(batch: Any, array_job_id: str) -> dict[int, dict]:
    """Index -> ListJobs summary of every FAILED child."""
    return children_with_status(batch, array_job_id, "FAILED")


def _log_streams(batch: Any, job_ids: list[str]) -> dict[str, str]:
    """Job id -> its last attempt's log stream, from DescribeJobs (best effort)."""
    if not job_ids:
        return {}
    try:
        jobs = batch.describe_jobs(jobs=job_ids)["jobs"]
    except Exception:  # noqa: BLE001 - a marker without its log stream is still a marker
        return {}
    streams: dict[str, str] = {}
    for job in jobs:
        stream = (job.get("container") or {}).get("logStreamName")
        for attempt in reversed(job.get("attempts") or []):
            stream = stream or (attempt.get("container") or {}).get("logStreamName")
        if stream:
            streams[job["jobId"]] = stream
    return streams


def _marker_of(index: int, detail: dict, failed: dict, succeeded: dict) -> dict | None:
    if index in succeeded:
        # It ran to its end: its result is stored, whatever became of its announcement.
        doc = new_marker("SUCCEEDED", "array-job-end", detail.get("ExecutionArn"))
        doc.update(_job_fields(succeeded[index]))
        doc["job_status"] = "SUCCEEDED"
        return doc
    doc = new_marker("FAILED", "array-job-end", detail.get("ExecutionArn"))
    if index in failed:
        doc.update(_job_fields(failed[index]))
        doc["job_status"] = "FAILED"
        return doc
    if _parent_job_id(detail):
        return None  # listed in neither: the executor's sweep records it
    # The array job was never submitted: every electron shares the execution's error.
    doc.update(error=detail.get("Error"), cause=detail.get("Cause"))
    doc["reason"] = detail.get("Cause") or detail.get("Error")
    return doc


def reconcile(
    s3: Any,
    batch: Any,
    detail: dict,
    budget_s: float = BUDGET_S,
    clock: Callable[[], float] = time.monotonic,
    wake: Callable[[list[tuple[dict, dict | None]]], Any] | None = None,
) -> dict[str, Any]:
    """Write the missing markers of a failed pack: its entries, or ``detail["Pending"]``'s.

    Returns counts for the log, and ``pending``: the [start, end) ranges of entries the budget
    left, empty when every marker is written (the handler hands the rest on in a new event).
    """
    if detail.get("Status") == "SUCCEEDED":
        return {"written": 0, "present": 0, "pending": []}
    deadline = clock() + budget_s
    manifest_at = _location_of_manifest(detail.get("Manifest"))
    body = s3.get_object(Bucket=manifest_at["Bucket"], Key=manifest_at["Key"])["Body"].read()
    tasks = json.loads(body).get("tasks") or []
    job_id = _parent_job_id(detail)
    failed = children_with_status(batch, job_id, "FAILED") if job_id else {}
    succeeded = children_with_status(batch, job_id, "SUCCEEDED") if job_id else {}
    ranges = detail.get("Pending") or [[0, len(tasks)]]
    chunks = [
        list(range(first, min(first + _CHUNK, int(end), len(tasks))))
        for start, end in ranges
        for first in range(int(start), min(int(end), len(tasks)), _CHUNK)
    ]

    def record(chunk: list[int]) -> tuple[int, int, int]:
        """(entries done, written, present) of the chunk, stopping when the budget is spent."""
        if clock() >= deadline:
            return 0, 0, 0
        recorded: list[tuple[dict, dict | None]] = []
        streams = _log_streams(batch, [failed[i]["jobId"] for i in chunk if i in failed])
        done = written = present = 0
        for index in chunk:
            if clock() >= deadline:
                break
            doc = _marker_of(index, detail, failed, succeeded)
            if doc is not None:
                if doc["status"] == "FAILED" and not doc["log_stream"] and index in failed:
                    doc["log_stream"] = streams.get(str(failed[index].get("jobId")))
                location = _location(tasks[index].get("marker"))
                if write_once(s3, location, doc):
                    written += 1
                    recorded.append((location, doc))
                else:
                    present += 1
            done += 1
        if wake is not None:  # the waiting processes, once per chunk
            wake(recorded)
        return done, written, present

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        outcomes = list(pool.map(record, chunks))
    pending: list[list[int]] = []
    for chunk, (done, _, _) in zip(chunks, outcomes):
        if done < len(chunk):
            left = [chunk[0] + done, chunk[-1] + 1]
            if pending and pending[-1][1] == left[0]:
                pending[-1][1] = left[1]  # adjacent: one range
            else:
                pending.append(left)
    return {
        "written": sum(o[1] for o in outcomes),
        "present": sum(o[2] for o in outcomes),
        "pending": pending,
    }


def _location_of_manifest(manifest: Any) -> dict:
    bucket, key = _get(manifest, "Bucket"), _get(manifest, "Key")
    if not bucket or not key:
        raise ValueError("pack event has no Manifest {Bucket, Key}")
    return {"Bucket": bucket, "Key": key}
