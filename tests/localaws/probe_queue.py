"""The unmanaged compute environment and job queue both moto probes submit to."""

from __future__ import annotations

from typing import Any


def probe_queue(batch: Any, role_arn: str) -> str:
    """Create the probes' compute environment and queue; return the queue's ARN."""
    env = batch.create_compute_environment(
        computeEnvironmentName="probe-env", type="UNMANAGED", state="ENABLED", serviceRole=role_arn
    )["computeEnvironmentArn"]
    return str(
        batch.create_job_queue(
            jobQueueName="probe-queue",
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}],
        )["jobQueueArn"]
    )
