"""Faults injected on the local stack, each with what the user must see (issue: failures).

Produced for real here: a raising task, sys.exit, an attempt past its time limit, a container
that dies without a word, an image that cannot be pulled, a job queue that does not exist,
cancellation while running and before submission, a duplicated event, a lost event (relay
stopped) and a late one (relay restarted).
Not producible on moto (its containers have no memory limit): the out-of-memory case, tested
through recorded documents in tests/executor/. Retries run for real: tests/e2e/test_retries.py.
"""

from __future__ import annotations

import contextlib
import json
import time

import covalent as ct
import pytest

from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor
from covalent_eventbatch.localaws import stack
from covalent_eventbatch.statemachine.definition import EVENT_DETAIL_TYPE, EVENT_SOURCE

from .harness import DirectRun
from .helpers import electron_nodes, explain, marker

pytestmark = pytest.mark.e2e
BUCKET = "covalent-eventbatch-local"


def _only(result, name: str) -> dict:
    nodes = electron_nodes(result, name)
    assert len(nodes) == 1, explain(result)
    return nodes[0]


def _dispatch_single(executor, function, *args) -> str:
    """Dispatch one electron in its own lattice; return the dispatch id."""
    electron = ct.electron(function, executor=executor)

    @ct.lattice
    def workflow(*a):
        return electron(*a)

    return str(ct.dispatch(workflow)(*args))


def _single(executor, function, *args):
    """Run one electron in its own lattice; return (result, node)."""
    result = ct.get_result(_dispatch_single(executor, function, *args), wait=True)
    return result, _only(result, function.__name__)


def _execution_arn(aws, dispatch_id: str, node_id: int) -> str:
    machine = aws.client("stepfunctions").list_state_machines()["stateMachines"][0]
    base = machine["stateMachineArn"].replace(":stateMachine:", ":execution:")
    return f"{base}:{dispatch_id}-{node_id}"


def test_user_exception_fails_with_remote_traceback_and_output(covalent_server) -> None:
    def explode(x):
        print("working on", x)
        raise ValueError(f"cannot handle {x}")

    result, node = _single("awsbatch", explode, 7)
    assert str(node["status"]) == "FAILED"
    assert "working on 7" in node["stdout"]
    assert "ValueError: cannot handle 7" in node["stderr"]
    assert "Remote traceback:" in node["stderr"]
    assert "in explode" in node["stderr"]


def test_sys_exit_code_is_reported(covalent_server) -> None:
    def leave():
        import sys

        print("leaving early")
        sys.exit(3)

    result, node = _single("awsbatch", leave)
    assert str(node["status"]) == "FAILED"
    assert "leaving early" in node["stdout"]
    assert "SystemExit: 3" in node["stderr"]
    assert "exit status 3" in node["stderr"]


def test_attempt_past_its_time_limit_fails_with_the_reason(covalent_server) -> None:
    def linger():
        import time

        time.sleep(150)

    started = time.monotonic()
    result, node = _single(AWSBatchExecutor(time_limit=60), linger)
    assert str(node["status"]) == "FAILED", explain(result)
    assert "time" in node["stderr"].lower()
    assert "raise 'time_limit'" in node["stderr"]
    # Reported when the limit struck, not when the task would have ended.
    assert time.monotonic() - started < 140


def test_container_that_dies_without_a_word_shows_its_log(covalent_server) -> None:
    def vanish():
        import os

        print("last words before vanishing", flush=True)
        os._exit(9)  # no io.json, no result: only the container's log tells

    result, node = _single("awsbatch", vanish)
    assert str(node["status"]) == "FAILED", explain(result)
    assert "Last lines of the container's log:" in node["stderr"], node["stderr"]
    assert "last words before vanishing" in node["stderr"]


def test_image_that_cannot_be_pulled(covalent_server, local_stack) -> None:
    missing = f"127.0.0.1:{local_stack.registry_port}/covalent-batch-job-images:does-not-exist"

    def never():
        return 1

    result, node = _single(AWSBatchExecutor(container_image_uri=missing), never)
    assert str(node["status"]) == "FAILED", explain(result)
    assert "AWS Batch job" in node["stderr"] and "failed" in node["stderr"]
    # moto records no reason for a failed pull (AWS says CannotPullContainerError): the message
    # still points at the image settings.
    assert "container_image_uri" in node["stderr"]


def test_job_queue_that_does_not_exist(covalent_server, aws, outside_policy) -> None:
    outside_policy("job-queue/no-such-queue", "a missing queue (batch_queue)")

    def never():
        return 1

    result, node = _single(AWSBatchExecutor(batch_queue="no-such-queue"), never)
    assert str(node["status"]) == "FAILED", explain(result)
    assert "The task never ran: Step Functions reported Batch." in node["stderr"]
    assert "no-such-queue" in node["stderr"]
    assert "batch_queue" in node["stderr"]
    # The execution ended FAILED, so the console shows it too.
    arn = _execution_arn(aws, result.dispatch_id, node["node_id"])
    assert aws.client("stepfunctions").describe_execution(executionArn=arn)["status"] == "FAILED"


def test_cancel_while_running_stops_execution_and_job(covalent_server, aws) -> None:
    def long_task():
        import time

        time.sleep(600)

    dispatch_id = _dispatch_single(AWSBatchExecutor(poll_freq=2), long_task)
    arn = _execution_arn(aws, dispatch_id, 0)
    sfn, batch = aws.client("stepfunctions"), aws.client("batch")
    deadline = time.monotonic() + 120
    job_id = None
    while time.monotonic() < deadline and job_id is None:
        time.sleep(1)
        jobs = batch.list_jobs(jobQueue="covalent-batch-queue", jobStatus="RUNNING")[
            "jobSummaryList"
        ]
        job_id = next(
            (j["jobId"] for j in jobs if j["jobName"] == f"covalent-{dispatch_id}-0"), None
        )
    assert job_id, "the job never started"

    cancelled_at = time.monotonic()
    ct.cancel(dispatch_id)
    result = ct.get_result(dispatch_id, wait=True)
    assert str(_only(result, "long_task")["status"]) == "CANCELLED", explain(result)
    assert time.monotonic() - cancelled_at < 60
    assert sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
    assert job["status"] == "FAILED"
    assert "Cancelled by Covalent" in job.get("statusReason", "")


def test_cancel_before_submission_submits_nothing(local_stack, aws) -> None:
    from covalent._shared_files.exceptions import TaskCancelledError

    direct = DirectRun(AWSBatchExecutor(), cancel_requested=True)
    with pytest.raises(TaskCancelledError):
        direct(lambda: 1)
    listed = aws.client("s3").list_objects_v2(
        Bucket=BUCKET, Prefix=f"covalent/tasks/{direct.dispatch_id}/"
    )
    assert listed.get("KeyCount", 0) == 0
    executions = aws.client("stepfunctions").list_executions(
        stateMachineArn=local_stack.state_machine_arn
    )["executions"]
    assert not [e for e in executions if e["name"].startswith(direct.dispatch_id)]


def _queue_drained(aws, state) -> bool:
    attributes = aws.client("sqs").get_queue_attributes(
        QueueUrl=state.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return attributes["ApproximateNumberOfMessages"] == "0" and (
        attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    )


def test_duplicate_event_keeps_the_first_outcome(covalent_server, local_stack, aws) -> None:
    def fine():
        return "fine"

    result, node = _single("awsbatch", fine)
    assert str(node["status"]) == "COMPLETED", explain(result)
    first = marker(aws, result.dispatch_id, node["node_id"])
    key = f"covalent/markers/{result.dispatch_id}/{node['node_id']}.json"
    execution = _execution_arn(aws, result.dispatch_id, node["node_id"])
    # The same completion announced again, now claiming failure, through EventBridge and relay.
    aws.client("events").put_events(
        Entries=[
            {
                "Source": EVENT_SOURCE,
                "DetailType": EVENT_DETAIL_TYPE,
                "Detail": json.dumps(
                    {
                        "ExecutionArn": execution,
                        "Marker": {"Bucket": BUCKET, "Key": key},
                        "Status": "FAILED",
                        "Error": "X",
                        "Cause": "duplicate",
                    }
                ),
            }
        ]
    )
    deadline = time.monotonic() + 30
    time.sleep(1)
    while time.monotonic() < deadline and not _queue_drained(aws, local_stack):
        time.sleep(0.5)
    assert _queue_drained(aws, local_stack)
    assert marker(aws, result.dispatch_id, node["node_id"]) == first
    # The handler did receive it, and found the marker already written.
    relay_log = (stack.home() / "relay.log").read_text()
    assert f"'written': False, 'Bucket': '{BUCKET}', 'Key': '{key}'" in relay_log


def test_lost_event_is_recovered_by_the_slow_sweep(covalent_server, local_stack, aws) -> None:
    state = stack.StackState.load()
    stack.stop_relay(state)
    try:

        def fine():
            return 42

        result, node = _single(AWSBatchExecutor(poll_freq=2), fine)
        assert str(node["status"]) == "COMPLETED", explain(result)
        assert result.result == 42
        recorded = marker(aws, result.dispatch_id, node["node_id"])
        assert recorded["source"] == "executor-fallback"
        assert recorded["status"] == "SUCCEEDED"
    finally:
        stack.start_relay(state)


def test_relay_restarted_mid_run_delivers_the_queued_event(
    covalent_server, local_stack, aws
) -> None:
    state = stack.StackState.load()
    stack.stop_relay(state)
    try:

        def quick():
            return "done"

        dispatch_id = _dispatch_single(AWSBatchExecutor(poll_freq=600), quick)
        arn = _execution_arn(aws, dispatch_id, 0)
        sfn = aws.client("stepfunctions")
        deadline = time.monotonic() + 120
        status = "RUNNING"
        while time.monotonic() < deadline and status == "RUNNING":
            time.sleep(1)
            with contextlib.suppress(sfn.exceptions.ExecutionDoesNotExist):
                status = sfn.describe_execution(executionArn=arn)["status"]
        assert status == "SUCCEEDED"
        time.sleep(3)
        # The task is done on AWS but its event waits in the queue: the electron is not.
        assert str(ct.get_result(dispatch_id, status_only=True)["status"]) == "RUNNING"
    finally:
        stack.start_relay(state)
    result = ct.get_result(dispatch_id, wait=True)
    assert str(result.status) == "COMPLETED", explain(result)
    assert marker(aws, dispatch_id, 0)["source"] == "task-finished"
