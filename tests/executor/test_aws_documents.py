"""What the user reads, from the documents AWS records for each kind of failure.

Each failure is a fixture shaped as AWS documents it (``tests/fixtures/aws``): the error and cause
``batch:submitJob.sync`` fails with, and the execution's DescribeExecution. The marker built from
either (the Lambda's "Task Finished" path, its execution-status path, the executor's own sweep)
must give the same message, with the reason AWS recorded and the setting that fixes it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from covalent_eventbatch.chalice_app.markers import (
    FAILED_ERROR_PREFIX,
    marker_from_execution,
    marker_from_task_event,
)
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.markers import MarkerWatcher, Wait
from covalent_eventbatch.executor.outcome import describe_failure
from tests.fixtures.aws import described, load

INPUT = load("execution-input")
EXECUTION = load("sfn-status-failed")["detail"]["executionArn"]
JOB = "AWS Batch job 4f1c2a9e-7b1d-4c8e-a3f2-5d6e7f809a1b"


def _markers(error_fixture: str) -> list[dict[str, Any]]:
    """The marker of one failure as each path builds it."""
    error = load(error_fixture)
    task = {"Marker": INPUT["Marker"], "ExecutionArn": EXECUTION, "Status": "FAILED", **error}
    execution = described("sfn-describe-execution-failed")
    # The execution reports the caught error under the state machine's prefix.
    execution.update(error=FAILED_ERROR_PREFIX + error["Error"], cause=error["Cause"])
    found = marker_from_execution(execution, "execution-status")
    assert found is not None
    return [marker_from_task_event(task)[1], found[1]]


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        (
            "sfn-submitjob-sync-error-out-of-memory",
            [
                f"{JOB} failed after 1 attempt.",
                "reason: Essential container in task exited; "
                "OutOfMemoryError: Container killed due to memory usage",
                "exit code: 137",
                "log stream: covalent/default/01c4e1f0a9b8c7d6e5f4a3b2c1d0e9f8",
                "Hint: the task ran out of memory: raise 'memory' (GiB).",
            ],
        ),
        (
            "sfn-submitjob-sync-error-timeout",
            [
                f"{JOB} failed after 1 attempt.",
                "reason: Job attempt duration exceeded timeout",
                "Hint: the attempt ran past its time limit: raise 'time_limit' (s).",
            ],
        ),
        (
            "sfn-submitjob-sync-error-host-reclaimed",
            [
                f"{JOB} failed after 2 attempts.",
                "reason: Host EC2 (instance i-0f9e8d7c6b5a40312) terminated.",
                "Hint: the instance was reclaimed; the job is retried up to 'retry_attempts'",
            ],
        ),
        (
            "sfn-submitjob-sync-error-image-pull",
            [
                f"{JOB} failed after 2 attempts.",
                "reason: Task failed to start; CannotPullContainerError: Error response",
                "Hint: the image could not be pulled",
            ],
        ),
        (
            "sfn-submitjob-sync-error-queue-not-found",
            [
                "The task never ran: Step Functions reported Batch.ClientException.",
                "reason: Error executing request, Exception : JobQueue covalent-nope not found.",
                "Hint: check 'batch_queue' names an existing, VALID and ENABLED job queue.",
            ],
        ),
    ],
)
def test_each_failure_reads_the_same_from_every_path(fixture: str, expected: list[str]) -> None:
    messages = [describe_failure(m, {}, time_limit=600) for m in _markers(fixture)]
    assert messages[0] == messages[1]
    for text in expected:
        assert text in messages[0], messages[0]
    # One hint, the right one: the job document's retry rules and settings are not a reason.
    assert messages[0].count("Hint:") == 1
    assert "{" not in messages[0], "a JSON document leaked into the message"


def test_a_container_killed_without_a_reason_points_at_memory() -> None:
    error = load("sfn-submitjob-sync-error-exit-1")
    job = json.loads(error["Cause"])
    job["Container"]["ExitCode"] = job["Attempts"][0]["Container"]["ExitCode"] = 137
    error["Cause"] = json.dumps(job, separators=(",", ":"))
    task = {"Marker": INPUT["Marker"], "ExecutionArn": EXECUTION, "Status": "FAILED", **error}
    message = describe_failure(marker_from_task_event(task)[1], {})
    assert "exit code: 137" in message
    assert "Hint: the container was killed (often out of memory): raise 'memory'" in message


def test_the_task_s_own_exception_comes_first() -> None:
    io = {
        "exit_status": 1,
        "exception": {"type": "ValueError", "message": "bad", "traceback": "Traceback ...\n"},
    }
    for marker in _markers("sfn-submitjob-sync-error-exit-1"):
        message = describe_failure(marker, io)
        assert message.startswith("ValueError: bad\n(raised in " + JOB + " after 1 attempt;")


@pytest.mark.parametrize(
    ("fixture", "headline"),
    [
        ("sfn-describe-execution-aborted", "The task's Step Functions execution ended ABORTED."),
        (
            "sfn-describe-execution-timed-out",
            "The task's Step Functions execution ended TIMED_OUT.",
        ),
    ],
)
def test_stopped_executions(fixture: str, headline: str) -> None:
    found = marker_from_execution(described(fixture), "execution-status")
    assert found is not None
    assert describe_failure(found[1], {}).startswith(headline)


def test_the_sweep_writes_the_marker_the_lambda_would(moto_aws: None) -> None:
    """A lost event: the executor describes the execution and writes the same marker."""
    clients = AwsClients(region="us-east-1")
    bucket, key = INPUT["Marker"]["Bucket"], INPUT["Marker"]["Key"]
    clients.client("s3").create_bucket(Bucket=bucket)
    wait = Wait(clients, bucket, key.rsplit("/", 1)[0] + "/", key, EXECUTION, "sm", 1, 1)
    with Stubber(clients.client("stepfunctions")) as stubber:
        stubber.add_response(
            "describe_execution",
            described("sfn-describe-execution-failed"),
            {"executionArn": EXECUTION},
        )
        MarkerWatcher()._recover(wait)
    written = wait.future.result(timeout=5)
    assert written["source"] == "executor-fallback"
    lambda_s = _markers("sfn-submitjob-sync-error-out-of-memory")[0]
    for name in ("job_id", "attempts", "exit_code", "reason", "log_stream", "error", "cause"):
        assert written[name] == lambda_s[name], name
    body = clients.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    assert json.loads(body) == written
