"""Submit a Batch array job of 3 to moto in-process; print what its children and parent do.

Usage: python -m tests.localaws.array_jobs_probe patched|unpatched

No container runs: the job threads are not started, and the probe ends children itself the way
moto's job thread does (``_mark_stopped``), so only moto's bookkeeping is exercised.
"""

import json
import os
import sys

os.environ.update(
    AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
)
import boto3
from moto import mock_aws
from moto.batch import models

from tests.localaws.probe_queue import probe_queue

if sys.argv[1] == "patched":
    from covalent_eventbatch.localaws import moto_compat

    assert moto_compat.apply_array_jobs()
models.Job.start = lambda self: None  # type: ignore[method-assign]


def _env(job) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for e in job._get_container_property("environment", []):
        found.setdefault(e["name"], []).append(e["value"])
    return found


def _array(batch, queue: str, definition: str, name: str) -> tuple[str, list]:
    job_id = batch.submit_job(
        jobName=name,
        jobQueue=queue,
        jobDefinition=definition,
        arrayProperties={"size": 3},
        containerOverrides={"environment": [{"name": "GIVEN", "value": "x"}]},
    )["jobId"]
    backend = models.batch_backends["123456789012"]["us-east-1"]
    return job_id, backend.get_job_by_id(job_id)._child_jobs


with mock_aws():
    iam, ec2 = boto3.client("iam"), boto3.client("ec2")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = boto3.client("batch")
    queue = probe_queue(batch, role)
    definition = batch.register_job_definition(
        jobDefinitionName="d",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64, "command": ["true"]},
    )["jobDefinitionArn"]

    # 1. Each child's environment, computed one after the other as the job threads do.
    _, children = _array(batch, queue, definition, "env")
    environments = [_env(child) for child in children]

    # 2. One child fails, the others succeed: what is the parent?
    failing_id, children = _array(batch, queue, definition, "fails")
    for i, child in enumerate(children):
        child._mark_stopped(success=i != 1)
    parent = batch.describe_jobs(jobs=[failing_id])["jobs"][0]

    # 3. Terminating the parent: are the children told to stop?
    terminated_id, children = _array(batch, queue, definition, "terminated")
    batch.terminate_job(jobId=terminated_id, reason="probe")
    print(
        json.dumps(
            {
                "indexes": [e.get("AWS_BATCH_JOB_ARRAY_INDEX") for e in environments],
                "job_ids_seen": [e.get("AWS_BATCH_JOB_ID") for e in environments],
                "parent_status": parent["status"],
                "children_stopping": [bool(c.stop) for c in children],
                "children_reasons": [c.job_stopped_reason for c in children],
            }
        )
    )
