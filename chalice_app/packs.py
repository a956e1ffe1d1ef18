"""Record, when a pack's array job ends, the electrons whose child could not record itself.

Standard library and boto3 only (this runs in the Lambda runtime). Each child of a pack's array
job announces its own electron; a child killed for memory, stopped at its time limit, whose host
was reclaimed or that was terminated cannot. When the array job fails, the pack's "Task Finished"
event carries the manifest (array index -> electron marker) and the parent job (or the error that
kept it from being submitted). From Batch's list of the failed children (ListJobs arrayJobId),
each of their electrons gets its marker with the child's reason; write-once keeps what a child
wrote itself. A pack that SUCCEEDED has nothing to add: every child ran to its end and reported.
"""

from __future__ import annotations

import json
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


def failed_children(batch: Any, array_job_id: str) -> dict[int, dict]:
    """Index -> ListJobs summary of every FAILED child (status reason and exit code included)."""
    found: dict[int, dict] = {}
    for page in batch.get_paginator("list_jobs").paginate(
        arrayJobId=array_job_id, jobStatus="FAILED"
    ):
        for summary in page.get("jobSummaryList", []):
            index = child_index(summary)
            if index is not None:
                found[index] = summary
    return found


def reconcile(s3: Any, batch: Any, detail: dict) -> dict[str, int]:
    """Write the missing markers of a failed pack; returns counts for the log."""
    if detail.get("Status") == "SUCCEEDED":
        return {"written": 0, "present": 0}
    manifest_at = _location_of_manifest(detail.get("Manifest"))
    body = s3.get_object(Bucket=manifest_at["Bucket"], Key=manifest_at["Key"])["Body"].read()
    tasks = json.loads(body).get("tasks") or []
    job_id = _parent_job_id(detail)
    children = failed_children(batch, job_id) if job_id else {}
    written = present = 0
    for index, entry in enumerate(tasks):
        if job_id and index not in children:
            continue  # the child succeeded, and said so itself
        doc = new_marker("FAILED", "array-job-end", detail.get("ExecutionArn"))
        if index in children:
            doc.update(_job_fields(children[index]))
            doc["job_status"] = "FAILED"
        else:
            # The array job was never submitted: every electron shares the execution's error.
            doc.update(error=detail.get("Error"), cause=detail.get("Cause"))
            doc["reason"] = detail.get("Cause") or detail.get("Error")
        if write_once(s3, _location(entry.get("marker")), doc):
            written += 1
        else:
            present += 1
    return {"written": written, "present": present}


def _location_of_manifest(manifest: Any) -> dict:
    bucket, key = _get(manifest, "Bucket"), _get(manifest, "Key")
    if not bucket or not key:
        raise ValueError("pack event has no Manifest {Bucket, Key}")
    return {"Bucket": bucket, "Key": key}
