"""Cancel a task: stop its Step Functions execution and terminate its Batch job.

On AWS, stopping an execution whose Batch task runs with .sync also terminates the job; the
explicit TerminateJob makes that certain (and is needed on the local stack, where it does not).

An electron of a pack shares its execution and array job with its siblings: cancelling it
terminates only its own child (``PARENT:INDEX``) and writes its marker at once, since the pack's
own end, which would otherwise record it, waits for the siblings.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from covalent_eventbatch.chalice_app.markers import new_marker, write_once

from .aws import AwsClients

log = logging.getLogger(__name__)

CANCEL_REASON = "Cancelled by Covalent (ct.cancel)"


def submitted_job_id(clients: AwsClients, execution_arn: str) -> str | None:
    """The Batch job id the execution submitted, from its history; None before submission."""
    sfn = clients.client("stepfunctions")
    for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, reverseOrder=True
    ):
        for event in page["events"]:
            details = event.get("taskSubmittedEventDetails")
            if details and details.get("resourceType") == "batch":
                output = json.loads(details.get("output") or "{}")
                return output.get("JobId") or output.get("jobId")
    return None


def stop_execution(clients: AwsClients, execution_arn: str, why: str = "cancel") -> str | None:
    """Stop the execution if it runs and terminate its Batch job; return the job id, if any."""
    reason = CANCEL_REASON if why == "cancel" else "Stopped by the executor: no completion in time"
    sfn = clients.client("stepfunctions")
    job_id = submitted_job_id(clients, execution_arn)
    if sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
        sfn.stop_execution(executionArn=execution_arn, error="Cancelled", cause=reason)
    if job_id:
        clients.client("batch").terminate_job(jobId=job_id, reason=reason)
    return job_id


def cancel_execution(clients: AwsClients, execution_arn: str) -> bool:
    job_id = stop_execution(clients, execution_arn, "cancel")
    log.info("cancelled %s (job %s)", execution_arn, job_id)
    return True


def _parent_job_id(
    clients: AwsClients,
    execution_arn: str,
    wait_s: float,
    sleep: Callable[[float], Any] = time.sleep,
) -> str | None:
    """The pack's array job id; waits a little for an execution still registering."""
    deadline = time.monotonic() + wait_s
    while True:
        job_id = submitted_job_id(clients, execution_arn)
        if job_id or time.monotonic() >= deadline:
            return job_id
        sleep(1.0)


def stop_pack_member(
    clients: AwsClients, execution_arn: str, index: int, why: str = "cancel", wait_s: float = 30
) -> str | None:
    """Terminate the child that runs array index ``index``; return its job id, if any."""
    reason = CANCEL_REASON if why == "cancel" else "Stopped by the executor: no completion in time"
    parent = _parent_job_id(clients, execution_arn, wait_s)
    if parent is None:
        return None
    child = f"{parent}:{index}"
    clients.client("batch").terminate_job(jobId=child, reason=reason)
    return child


# How long a cancelled electron's child is waited for when its pack's array job is not yet
# submitted (the execution is registering its job definition, or Batch is throttling).
PENDING_CHILD_WAIT_S = 600.0


def cancel_pack_member(
    clients: AwsClients,
    execution_arn: str,
    index: int,
    marker: dict[str, str],
    wait_s: float = PENDING_CHILD_WAIT_S,
) -> bool:
    """Cancel one electron of a pack at once: its marker now, its child as soon as it exists.

    Before the pack's array job is submitted there is no child to terminate yet: the marker is
    written first (the electron is CANCELLED within a poll), and a thread terminates the child
    once the array job appears, so that the cancel never waits for the submission.
    """
    parent = submitted_job_id(clients, execution_arn)
    child = f"{parent}:{index}" if parent else None
    doc = new_marker("FAILED", "executor-cancel", execution_arn)
    doc.update(job_id=child, job_status="FAILED", reason=CANCEL_REASON)
    write_once(clients.client("s3"), marker, doc)
    if child is not None:
        clients.client("batch").terminate_job(jobId=child, reason=CANCEL_REASON)
        log.info("cancelled array child %s of %s", child, execution_arn)
    else:
        threading.Thread(
            target=stop_pack_member,
            args=(clients, execution_arn, index, "cancel", wait_s),
            name=f"cancel-{index}-when-submitted",
            daemon=True,
        ).start()
        log.info("cancelled array index %d of %s before its submission", index, execution_arn)
    return True
