"""The local stack's Batch capacity (localaws/moto_capacity.py) with real containers.

A moto server of its own (the local stack's, ``python -m ...motoserver``) with
EVENTBATCH_LOCAL_BATCH_SLOTS=2, on the shared stack's Docker engine and base image: six jobs of
3 s with an 8 s time limit take turns two at a time, each attempt's limit counting from its
start; two jobs terminated or cancelled while they wait end FAILED without ever starting.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import docker
import pytest

from covalent_eventbatch.localaws.moto_capacity import SLOTS_ENV

from ..conftest import _free_port

pytestmark = pytest.mark.e2e
SLOTS = 2
SLEEP_S = 3
LIMIT_S = 8  # below the six jobs' total (moto takes less than AWS's minimum of 60 s)
NAME = "capacity-e2e"


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2):
            return True
    except Exception:
        return False


@pytest.fixture(scope="module")
def slotted_moto(local_stack: object, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A moto server running at most SLOTS containers: a session, its endpoint, its log."""
    port = _free_port()
    log = tmp_path_factory.mktemp("capacity") / "moto.log"
    env = {k: v for k, v in os.environ.items() if k != "EVENTBATCH_CALL_LOG"}  # not the stack's
    env[SLOTS_ENV] = str(SLOTS)
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "covalent_eventbatch.localaws.motoserver", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        while not _answers(port):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.3)
        session = boto3.Session(
            region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
        )
        yield session, f"http://127.0.0.1:{port}", log
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _queue(batch: Any, iam: Any) -> str:
    role = iam.create_role(RoleName=NAME, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    env = batch.create_compute_environment(
        computeEnvironmentName=NAME, type="UNMANAGED", state="ENABLED", serviceRole=role
    )["computeEnvironmentArn"]
    return str(
        batch.create_job_queue(
            jobQueueName=NAME,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}],
        )["jobQueueArn"]
    )


def test_jobs_take_turns_in_the_slots_and_their_time_limit_counts_from_their_start(
    slotted_moto: tuple[Any, str, Path],
) -> None:
    session, endpoint, log = slotted_moto
    assert f"at most {SLOTS} job containers at once" in log.read_text()
    batch = session.client("batch", endpoint_url=endpoint)
    queue = _queue(batch, session.client("iam", endpoint_url=endpoint))
    definition = batch.register_job_definition(
        jobDefinitionName=NAME,
        type="container",
        containerProperties={
            "image": "python:3.11-slim",
            "command": ["sleep", str(SLEEP_S)],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "128"},
            ],
        },
        timeout={"attemptDurationSeconds": LIMIT_S},
    )["jobDefinitionArn"]

    def submit(name: str) -> str:
        return str(
            batch.submit_job(jobName=name, jobQueue=queue, jobDefinition=definition)["jobId"]
        )

    sleepers = [submit(f"{NAME}-{i}") for i in range(6)]
    terminated, cancelled = submit(f"{NAME}-terminated"), submit(f"{NAME}-cancelled")
    engine = docker.from_env()
    most_running = most_containers = 0
    seen: dict[str, set[str]] = {}
    stopped_waiting = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        jobs = batch.describe_jobs(jobs=sleepers + [terminated, cancelled])["jobs"]
        status = {j["jobId"]: j["status"] for j in jobs}
        for job_id, s in status.items():
            seen.setdefault(job_id, set()).add(s)
        started = [s for s in status.values() if s in ("STARTING", "RUNNING")]
        most_running = max(most_running, len(started))
        containers = engine.containers.list(filters={"name": NAME})
        most_containers = max(most_containers, len(containers))
        if not stopped_waiting and status[terminated] == status[cancelled] == "RUNNABLE":
            waiting = batch.list_jobs(jobQueue=queue, jobStatus="RUNNABLE")["jobSummaryList"]
            assert {terminated, cancelled} <= {j["jobId"] for j in waiting}
            batch.terminate_job(jobId=terminated, reason="terminated while it waited")
            batch.cancel_job(jobId=cancelled, reason="cancelled while it waited")
            stopped_waiting = True
        if all(s in ("SUCCEEDED", "FAILED") for s in status.values()):
            break
        time.sleep(0.2)

    jobs = {
        j["jobId"]: j for j in batch.describe_jobs(jobs=sleepers + [terminated, cancelled])["jobs"]
    }
    assert [jobs[j]["status"] for j in sleepers] == ["SUCCEEDED"] * 6, [
        (jobs[j]["status"], jobs[j].get("statusReason"), jobs[j]["attempts"]) for j in sleepers
    ]
    assert most_running <= SLOTS and most_containers <= SLOTS
    assert most_running == SLOTS  # they did run side by side
    assert sum("RUNNABLE" in seen[j] for j in sleepers) >= 6 - SLOTS
    # The last sleeper ended more than LIMIT_S after it was submitted: its wait did not count.
    last = max(sleepers, key=lambda j: jobs[j]["stoppedAt"])
    assert (jobs[last]["stoppedAt"] - jobs[last]["createdAt"]) / 1000 > LIMIT_S
    for job in sleepers:
        assert len(jobs[job]["attempts"]) == 1
        assert jobs[job]["attempts"][0]["startedAt"] == jobs[job]["startedAt"]
    for job, reason in (
        (terminated, "terminated while it waited"),
        (cancelled, "cancelled while it waited"),
    ):
        assert (jobs[job]["status"], jobs[job].get("statusReason")) == ("FAILED", reason)
        assert jobs[job]["attempts"] == [] and "startedAt" not in jobs[job]
        assert not seen[job] & {"STARTING", "RUNNING"}
