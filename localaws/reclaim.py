"""Taking a Spot host back from a running Batch job, on the local stack.

On AWS, when EC2 reclaims a Spot instance, the attempt running on it ends with the status reason
"Host EC2 (instance i-...) terminated." and no exit code; the job's retry rules then decide
(the executor's retry "Host EC2*", see executor/workflow.py). The local stack has no hosts: its
Batch (localaws/moto_retries.py) ends the running attempt that way when TerminateJob's reason
has exactly that form, which is what ``eventbatch local reclaim JOB_ID`` sends.
"""

from __future__ import annotations

import secrets
from typing import Any

from .moto_retries import reclaim_reason

# Where AWS runs a job's attempt on a host, and so where a reclaimed host ends it.
_ON_A_HOST = ("STARTING", "RUNNING")


class ReclaimError(Exception):
    """The job cannot have its host taken back; the message says why."""


def reclaim(batch: Any, job_id: str, instance_id: str | None = None) -> str:
    """End job_id's running attempt as a reclaimed Spot host does; return the status reason."""
    jobs = batch.describe_jobs(jobs=[job_id])["jobs"]
    if not jobs:
        raise ReclaimError(f"no Batch job {job_id!r} on the local stack: see 'eventbatch status'")
    status = jobs[0]["status"]
    if "arrayProperties" in jobs[0] and "index" not in jobs[0]["arrayProperties"]:
        raise ReclaimError(f"{job_id} is an array job: reclaim one of its children, {job_id}:INDEX")
    if status not in _ON_A_HOST:
        raise ReclaimError(f"job {job_id} is {status}: only a running attempt has a host to lose")
    reason = reclaim_reason(instance_id or f"i-{secrets.token_hex(8)}")
    batch.terminate_job(jobId=job_id, reason=reason)
    return reason
