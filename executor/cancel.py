"""Cancel a task: stop its Step Functions execution and terminate its Batch job.

On AWS, stopping an execution whose Batch task runs with .sync also terminates the job; the
explicit TerminateJob makes that certain (and is needed on the local stack, where it does not).
"""

from __future__ import annotations

import json
import logging

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
