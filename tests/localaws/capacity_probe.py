"""Batch capacity and retries together, in moto in-process; print what the jobs went through.

Usage: python -m tests.localaws.capacity_probe

One container slot. No container runs: moto's Job.run is replaced by what it does around its
container (its status steps, the attempt's start, an exit code, the job marked stopped), the
"container" sleeping for the job's command ``[SECONDS, CODE_OF_ATTEMPT_1, ...]``. Job "retried"
fails its first attempt; while it runs, job "urgent" is submitted to a queue of higher priority,
which takes the slot first; "retried" waits RUNNABLE for its second attempt and is terminated
then.
"""

import json
import os
import time
from datetime import datetime

os.environ.update(
    AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
)
import boto3
from moto import mock_aws
from moto.batch import models


def _step(job, leaving: str) -> None:
    job.advance()
    while job.status == leaving:
        time.sleep(0.02)


def _one_attempt(self) -> None:
    """What moto's Job.run does around one container, minus the container."""
    try:
        _step(self, "SUBMITTED")
        _step(self, "PENDING")
        self.job_started_at = datetime.now()
        self._start_attempt()
        _step(self, "RUNNABLE")
        _step(self, "STARTING")
        command = self._get_container_property("command", [])
        end = time.monotonic() + float(command[0])
        while time.monotonic() < end and not self.stop:
            time.sleep(0.02)
        env = {e["name"]: e["value"] for e in self._get_container_property("environment", [])}
        codes = [int(c) for c in command[1:]]
        self.exit_code = codes[min(int(env["AWS_BATCH_JOB_ATTEMPT"]), len(codes)) - 1]
        self.log_stream_name = self._stream_name
        if self.stop or self.exit_code > 0:
            self._mark_stopped(success=False)
        self._mark_stopped(success=True)
    except Exception:  # as moto's run ends a job whose run raised
        self._mark_stopped(success=False)


models.Job.run = _one_attempt  # type: ignore[method-assign]
from covalent_eventbatch.localaws import moto_capacity, moto_retries  # noqa: E402

assert moto_capacity.apply(containers=1)
assert moto_retries.apply()

with mock_aws():
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = boto3.client("batch")
    env = batch.create_compute_environment(
        computeEnvironmentName="env", type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    queues = {
        name: batch.create_job_queue(
            jobQueueName=name,
            state="ENABLED",
            priority=priority,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}],
        )["jobQueueArn"]
        for name, priority in (("low", 1), ("high", 10))
    }
    definition = batch.register_job_definition(
        jobDefinitionName="d",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64, "command": ["0"]},
    )["jobDefinitionArn"]

    def submit(name: str, queue: str, command: list[str], attempts: int = 1) -> str:
        return batch.submit_job(
            jobName=name,
            jobQueue=queues[queue],
            jobDefinition=definition,
            containerOverrides={"command": command},
            retryStrategy={"attempts": attempts},
        )["jobId"]

    ids = {"retried": submit("retried", "low", ["0.5", "1", "0"], attempts=2)}
    seen: dict[str, list[str]] = {"retried": [], "urgent": []}
    most_running = 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        jobs = {j["jobName"]: j for j in batch.describe_jobs(jobs=list(ids.values()))["jobs"]}
        for name, job in jobs.items():
            if not seen[name] or seen[name][-1] != job["status"]:
                seen[name].append(job["status"])
        most_running = max(
            most_running, sum(j["status"] in ("STARTING", "RUNNING") for j in jobs.values())
        )
        if "urgent" not in ids and jobs["retried"]["status"] == "RUNNING":
            ids["urgent"] = submit("urgent", "high", ["1.5", "0"])
        retried = jobs["retried"]
        if retried["status"] == "RUNNABLE" and len(retried["attempts"]) == 1:
            batch.terminate_job(jobId=ids["retried"], reason="stopped while it waited")
        if all(j["status"] in ("SUCCEEDED", "FAILED") for j in jobs.values()) and len(jobs) == 2:
            break
        time.sleep(0.02)
    final = {j["jobName"]: j for j in batch.describe_jobs(jobs=list(ids.values()))["jobs"]}
    print(
        json.dumps(
            {
                "seen": seen,
                "most_running": most_running,
                "jobs": {
                    name: {
                        "status": j["status"],
                        "statusReason": j.get("statusReason"),
                        "startedAt": j.get("startedAt"),
                        "attempts": [
                            {
                                "startedAt": a.get("startedAt"),
                                "exitCode": a["container"].get("exitCode"),
                                "statusReason": a.get("statusReason"),
                            }
                            for a in j["attempts"]
                        ],
                    }
                    for name, j in final.items()
                },
            }
        )
    )
