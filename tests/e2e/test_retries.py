"""Batch retries through a real `covalent start` dispatcher on the local stack.

The local stack's Batch retries as AWS does (localaws/moto_retries.py): each attempt is a new
container with its own AWS_BATCH_JOB_ATTEMPT, entry in attempts[] and log stream; the executor's
retry rules decide which failures run again.
"""

from __future__ import annotations

import time

import covalent as ct
import pytest

from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor
from covalent_eventbatch.localaws.reclaim import reclaim

from .helpers import electron_nodes, explain, marker, run

pytestmark = pytest.mark.e2e
QUEUE = "covalent-batch-queue"


def _output(node: dict):
    return node["output"].get_deserialized() if node["output"] is not None else None


def _job(aws, dispatch_id: str, node_id: int, timeout: float = 60) -> dict:
    """The electron's Batch job once it ended."""
    return _ended_job(aws, marker(aws, dispatch_id, node_id)["job_id"], timeout)


def _ended_job(aws, job_id: str, timeout: float = 60) -> dict:
    """The Batch job once it ended: the container announces the electron (and the electron
    completes) before Batch records its last attempt's end."""
    deadline = time.monotonic() + timeout
    while (job := aws.client("batch").describe_jobs(jobs=[job_id])["jobs"][0])["status"] not in (
        "SUCCEEDED",
        "FAILED",
    ):
        assert time.monotonic() < deadline, job["status"]
        time.sleep(0.5)
    return dict(job)


def _running_job(aws, dispatch_id: str, timeout: float = 180) -> str:
    """The id of the dispatch's first job (or array child) seen RUNNING."""
    batch = aws.client("batch")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        jobs = batch.list_jobs(
            jobQueue=QUEUE,
            filters=[{"name": "JOB_NAME", "values": [f"covalent-{dispatch_id}-*"]}],
        )["jobSummaryList"]
        for job in jobs:
            if job["status"] == "RUNNING":
                return str(job["jobId"])
        time.sleep(1)
    raise AssertionError(f"no job of dispatch {dispatch_id} ran within {timeout} s")


def _fails_on_first_attempt():  # type: ignore[no-untyped-def]
    """Electron 2 raises on its first attempt; each returns (i, the attempt it completed on)."""

    # Defined here, not at module level: cloudpickle then sends it by value to the container.
    def fails_on_first_attempt(i):
        import os

        attempt = int(os.environ["AWS_BATCH_JOB_ATTEMPT"])
        print(f"electron {i} attempt {attempt}")
        if i == 2 and attempt == 1:
            raise RuntimeError(f"electron {i} fails its first attempt")
        return (i, attempt)

    return fails_on_first_attempt


def _retrying() -> AWSBatchExecutor:
    # Built in the test: the executor reads covalent.conf, written when the local stack is up.
    # A wide pack window, so that a fan-out's electrons all join one pack.
    return AWSBatchExecutor(retry_attempts=3, retry_user_errors=True, pack_window=3.0)


def test_a_raising_electron_completes_on_its_second_attempt(covalent_server, aws) -> None:
    electron = ct.electron(_fails_on_first_attempt(), executor=_retrying())

    @ct.lattice
    def alone(i):
        return electron(i)

    result = run(alone, 2)
    assert str(result.status) == "COMPLETED", explain(result)
    assert result.result == (2, 2)
    [node] = electron_nodes(result, "fails_on_first_attempt")
    job = _job(aws, result.dispatch_id, node["node_id"])
    assert [a["container"].get("exitCode") for a in job["attempts"]] == [1, 0]
    streams = [a["container"]["logStreamName"] for a in job["attempts"]]
    assert len(set(streams)) == 2, streams
    assert marker(aws, result.dispatch_id, node["node_id"])["attempts"] == 2


def test_a_packed_electron_retries_alone(covalent_server, aws) -> None:
    electron = ct.electron(_fails_on_first_attempt(), executor=_retrying())

    @ct.lattice
    def fan_out(n):
        return [electron(i) for i in range(n)]

    result = run(fan_out, 4)
    assert str(result.status) == "COMPLETED", explain(result)
    # Only electron 2 ran twice; its siblings once.
    assert result.result == [(0, 1), (1, 1), (2, 2), (3, 1)]
    nodes = electron_nodes(result, "fails_on_first_attempt")
    job_ids = {marker(aws, result.dispatch_id, n["node_id"])["job_id"] for n in nodes}
    assert all(":" in j for j in job_ids), job_ids  # array children
    jobs = [_ended_job(aws, job_id) for job_id in sorted(job_ids)]
    assert sorted(len(j["attempts"]) for j in jobs) == [1, 1, 1, 2]


def test_a_reclaimed_host_is_retried_and_completes(covalent_server, aws) -> None:
    def slow_first_attempt():
        import os
        import time

        attempt = int(os.environ["AWS_BATCH_JOB_ATTEMPT"])
        if attempt == 1:
            time.sleep(300)  # the host is taken back meanwhile
        return attempt

    electron = ct.electron(slow_first_attempt, executor=AWSBatchExecutor(retry_attempts=3))

    @ct.lattice
    def alone():
        return electron()

    dispatch_id = ct.dispatch(alone)()
    job_id = _running_job(aws, dispatch_id)
    reason = reclaim(aws.client("batch"), job_id)
    result = ct.get_result(dispatch_id, wait=True)
    assert str(result.status) == "COMPLETED", explain(result)
    assert result.result == 2
    job = _ended_job(aws, job_id)
    assert [a.get("statusReason") for a in job["attempts"]] == [
        reason,
        "Essential container in task exited",
    ]
    assert "exitCode" not in job["attempts"][0]["container"]


def test_a_user_error_is_not_retried_without_retry_user_errors(covalent_server, aws) -> None:
    def always_raises():
        import os

        raise ValueError(f"attempt {os.environ['AWS_BATCH_JOB_ATTEMPT']} refuses")

    electron = ct.electron(always_raises, executor=AWSBatchExecutor(retry_attempts=3))

    @ct.lattice
    def alone():
        return electron()

    result = run(alone)
    [node] = electron_nodes(result, "always_raises")
    assert str(node["status"]) == "FAILED", explain(result)
    assert "ValueError: attempt 1 refuses" in node["stderr"]
    job = _job(aws, result.dispatch_id, node["node_id"])
    assert len(job["attempts"]) == 1
    assert job["status"] == "FAILED"
