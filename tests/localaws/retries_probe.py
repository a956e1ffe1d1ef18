"""Submit Batch jobs with retry strategies to moto in-process; print what their attempts did.

Usage: python -m tests.localaws.retries_probe patched|unpatched

No container runs: moto's one-container run is replaced by an attempt that does what moto's does
around its container (starts an attempt, reads the environment the container would get, records
an exit code, marks the job stopped, twice, as moto's run does). The job's command says what each
attempt does: ``["codes", "1", "0"]`` exits 1 then 0; ``["reclaim"]`` has its first attempt's
host taken back; ``["terminate"]`` is terminated by the user; an array job's command is
``["array", CODES_OF_CHILD_0, CODES_OF_CHILD_1, ...]`` with each child's codes comma-separated.
"""

import json
import os
import sys
import time
from datetime import datetime

os.environ.update(
    AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing"
)
import boto3
from moto import mock_aws
from moto.batch import models

from tests.localaws.probe_queue import probe_queue

runs: list[tuple[str, str | None]] = []
RECLAIM = "Host EC2 (instance i-0abc123) terminated."


def _one_attempt(self) -> None:
    """What moto's Job.run does around one container, minus the container."""
    self.job_started_at = datetime.now()
    self._start_attempt()
    env = {e["name"]: e["value"] for e in self._get_container_property("environment", [])}
    number = env.get("AWS_BATCH_JOB_ATTEMPT")
    runs.append((self.job_id, number))
    command = self._get_container_property("command", [])
    attempt = int(number or 1)
    if command[0] == "array":
        index = int(self.array_properties["index"])  # unpatched moto gives no env variable
        codes = [int(c) for c in command[1 + index].split(",")]
    elif command[0] == "reclaim":
        codes = [137, 0]
        if attempt == 1:
            self.backend.terminate_job(self.job_id, RECLAIM)
    elif command[0] == "terminate":
        codes = [137]
        self.backend.terminate_job(self.job_id, "stopped by its user")
    else:
        codes = [int(c) for c in command[1:]]
    self.exit_code = codes[min(attempt, len(codes)) - 1]
    self.log_stream_name = self._stream_name
    if self.stop or self.exit_code > 0:
        self._mark_stopped(success=False)
    self._mark_stopped(success=True)


models.Job.run = _one_attempt  # type: ignore[method-assign]
if sys.argv[1] == "patched":
    from covalent_eventbatch.localaws import moto_compat, moto_retries

    assert moto_compat.apply_array_jobs()
    assert moto_retries.apply()

PLUGIN_RULES = [
    {"onStatusReason": "Host EC2*", "action": "RETRY"},
    {"onReason": "CannotPullContainerError*", "action": "RETRY"},
    {"onExitCode": "*", "action": "EXIT"},
    {"onReason": "*", "action": "RETRY"},
]


def _wait(batch, job_id: str, seconds: float = 20) -> dict:
    deadline = time.monotonic() + seconds
    while True:
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in ("SUCCEEDED", "FAILED") or time.monotonic() > deadline:
            return job


def _summary(batch, job_id: str) -> dict:
    job = _wait(batch, job_id)
    return {
        "status": job["status"],
        "statusReason": job.get("statusReason"),
        "exitCode": job.get("container", {}).get("exitCode"),
        "runs": [n for j, n in runs if j == job_id],
        "attempts": [
            {
                "statusReason": a.get("statusReason"),
                "exitCode": a["container"].get("exitCode"),
                "logStreamName": a["container"].get("logStreamName"),
                "stopped": bool(a.get("stoppedAt")),
            }
            for a in job["attempts"]
        ],
    }


with mock_aws():
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    batch = boto3.client("batch")
    queue = probe_queue(batch, role)
    plain = batch.register_job_definition(
        jobDefinitionName="plain",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64, "command": ["true"]},
    )["jobDefinitionArn"]
    two_attempts = batch.register_job_definition(
        jobDefinitionName="two-attempts",
        type="container",
        containerProperties={"image": "busybox", "vcpus": 1, "memory": 64, "command": ["true"]},
        retryStrategy={"attempts": 2},
    )["jobDefinitionArn"]

    def submit(name: str, command: list[str], strategy=None, definition=plain, size=0) -> str:
        kwargs = {"retryStrategy": strategy} if strategy else {}
        if size:
            kwargs["arrayProperties"] = {"size": size}
        return batch.submit_job(
            jobName=name,
            jobQueue=queue,
            jobDefinition=definition,
            containerOverrides={"command": command},
            **kwargs,
        )["jobId"]

    jobs = {
        "third_time": submit("third", ["codes", "1", "1", "0"], {"attempts": 3}),
        "exit_rule": submit(
            "exit", ["codes", "1", "0"], {"attempts": 3, "evaluateOnExit": PLUGIN_RULES}
        ),
        "from_definition": submit("definition", ["codes", "3", "0"], definition=two_attempts),
        "reclaimed": submit(
            "reclaimed", ["reclaim"], {"attempts": 3, "evaluateOnExit": PLUGIN_RULES}
        ),
        "terminated": submit("terminated", ["terminate"], {"attempts": 3}),
        "out_of_attempts": submit("out", ["codes", "5", "6", "0"], {"attempts": 2}),
    }
    summaries = {name: _summary(batch, job_id) for name, job_id in jobs.items()}
    arrays = {
        "array_retried": submit("arr", ["array", "0", "1,0", "0"], {"attempts": 2}, size=3),
        "array_failing": submit("arrf", ["array", "0", "1,1", "0"], {"attempts": 2}, size=3),
    }
    for name, parent in arrays.items():
        # Children first: their attempts decide the parent's status.
        children = [_summary(batch, f"{parent}:{i}") for i in range(3)]
        summaries[name] = {"parent": _wait(batch, parent, 3)["status"], "children": children}
    print(json.dumps(summaries))
