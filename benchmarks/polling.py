"""The baseline: an AWS Batch executor of the polling design, for comparison only.

It follows the original plugin's design: per task it uploads the pickled task (the product's S3
transport, so the payload cost is the same), registers a new job definition revision, submits
the job itself, then asks DescribeJobs for that one job every ``poll_freq`` seconds until the job
is SUCCEEDED or FAILED, and downloads the result. The runtime image and the container entry point
are the product's, so both executors run the very same container.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from covalent.executor.utils import Signals

from covalent_eventbatch.container.runner import TASK_URI_ENV
from covalent_eventbatch.executor import storage
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.layout import TaskLocation, safe_name
from covalent_eventbatch.executor.preparation import runtime_image as product_runtime_image
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.executor.workflow import (
    RUNNER_COMMAND,
    container_environment,
    resource_requirements,
)


def runtime_image(settings: ExecutorSettings, clients: AwsClients, covalent: str) -> str:
    """The product's runtime image for this Python and Covalent (looked up once per process)."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return product_runtime_image(settings, clients, {"python": python, "covalent": covalent})


def _camel(pairs: list[dict[str, str]]) -> list[dict[str, str]]:
    """Step Functions' PascalCase Name/Value (or Type/Value) pairs as boto3 spells them."""
    return [{k[0].lower() + k[1:]: v for k, v in pair.items()} for pair in pairs]


class PollingExecutor:
    """Submit to Batch directly; poll DescribeJobs per task every poll_freq seconds."""

    # The task's output buffers, given by the dispatcher (or its stand-in) before run().
    _task_stdout: Any
    _task_stderr: Any

    def __init__(self, settings: ExecutorSettings, clients: AwsClients) -> None:
        self.settings = settings
        self.clients = clients

    async def _ask(self, action: Signals, body: Any) -> Any:
        """The dispatcher's channel, as the product's executor has it; set by the stand-in."""
        raise RuntimeError("attach a dispatcher (localaws.dispatcher.DispatcherStandIn) first")

    async def run(
        self, function: Any, args: list[Any], kwargs: dict[str, Any], task_metadata: dict[str, Any]
    ) -> Any:
        s = self.settings
        location = TaskLocation(
            s.s3_bucket_name, s.s3_prefix, task_metadata["dispatch_id"], task_metadata["node_id"]
        )
        versions = await self._ask(Signals.GET, "version_info")
        image = await asyncio.to_thread(runtime_image, s, self.clients, versions["covalent"])
        await asyncio.to_thread(
            storage.upload_task,
            self.clients,
            location.bucket,
            location.task_key,
            (function, args, kwargs),
            s.cache_dir,
        )
        job_id = await asyncio.to_thread(self._submit, location, image)
        await self._ask(Signals.PUT, ("job_handle", json.dumps({"job_id": job_id})))
        status = await self._poll(job_id)
        return await asyncio.to_thread(self._collect, location, status)

    def _submit(self, location: TaskLocation, image: str) -> str:
        s, batch = self.settings, self.clients.client("batch")
        role = f"arn:{self.clients.partition()}:iam::{self.clients.account_id()}:role/"
        environment = container_environment(s, self.clients.region) + [
            {"Name": TASK_URI_ENV, "Value": f"s3://{location.bucket}/{location.task_dir}"}
        ]
        # One new revision per task, as the original plugin registers one per electron.
        definition = batch.register_job_definition(
            jobDefinitionName=safe_name(
                s.batch_job_definition_name, "poll", location.dispatch_id, location.node_id
            ),
            type="container",
            platformCapabilities=[s.platform],
            containerProperties={
                "image": image,
                "command": RUNNER_COMMAND,
                "jobRoleArn": role + s.batch_job_role_name,
                "executionRoleArn": role + s.batch_execution_role_name,
                "resourceRequirements": _camel(resource_requirements(s)),
                "environment": _camel(environment),
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {
                        "awslogs-group": s.batch_job_log_group_name,
                        "awslogs-region": self.clients.region,
                        "awslogs-stream-prefix": "covalent",
                    },
                },
            },
        )
        submitted = batch.submit_job(
            jobName=location.job_name,
            jobQueue=s.batch_queue,
            jobDefinition=definition["jobDefinitionArn"],
            retryStrategy={"attempts": s.retry_attempts},
            timeout={"attemptDurationSeconds": s.time_limit},
        )
        return str(submitted["jobId"])

    async def _poll(self, job_id: str) -> dict[str, Any]:
        batch = self.clients.client("batch")
        while True:
            jobs = (await asyncio.to_thread(batch.describe_jobs, jobs=[job_id]))["jobs"]
            if jobs and jobs[0]["status"] in ("SUCCEEDED", "FAILED"):
                return dict(jobs[0])
            await asyncio.sleep(self.settings.poll_freq)

    def _collect(self, location: TaskLocation, job: dict[str, Any]) -> Any:
        # The same container and S3 transport as the product: one download on success.
        if job["status"] == "SUCCEEDED":
            outcome = storage.download_result(
                self.clients, location.bucket, location.result_key, self.settings.cache_dir
            )
            if outcome is not None:
                self._task_stdout.write(outcome["stdout"])
                self._task_stderr.write(outcome["stderr"])
                return outcome["result"]
        io = storage.read_json(self.clients, location.bucket, location.io_key) or {}
        self._task_stdout.write(io.get("stdout", ""))
        self._task_stderr.write(io.get("stderr", ""))
        raise RuntimeError(f"job {job['jobId']} {job['status']}: {job.get('statusReason')}")
