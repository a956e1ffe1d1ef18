"""A single electron announces its own completion from its container, on the local stack.

The container sends "Task Finished" once its outcome is stored; the state machine can only send
its own once Step Functions has seen the Batch job end (its SubmitJob task's end in the
execution's history). A marker written before that moment can only be the container's.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor
from covalent_eventbatch.statemachine.definition import SUBMIT_JOB_STATE

from .harness import DirectRun
from .helpers import execution_ended, marker

pytestmark = pytest.mark.e2e


def _job_seen_ended(aws: Any, execution_arn: str) -> datetime.datetime:
    """When Step Functions saw the Batch job end: the end of the SubmitJob state's task."""
    history = aws.client("stepfunctions").get_execution_history(executionArn=execution_arn)
    entered = False
    for event in history["events"]:
        if event.get("stateEnteredEventDetails", {}).get("name") == SUBMIT_JOB_STATE:
            entered = True
        elif entered and event["type"] in ("TaskSucceeded", "TaskFailed", "TaskTimedOut"):
            return event["timestamp"]  # type: ignore[no-any-return]
    raise AssertionError(f"no end of {SUBMIT_JOB_STATE} in the history of {execution_arn}")


def _announced_by_the_container(
    aws: Any, local_stack: Any, run: DirectRun, status: str, exit_code: int
) -> dict[str, Any]:
    execution_arn = local_stack.state_machine_arn.replace(":stateMachine:", ":execution:")
    execution_arn += f":{run.dispatch_id}-0"
    execution_ended(aws, execution_arn)
    written = marker(aws, run.dispatch_id, 0)
    assert (written["status"], written["source"]) == (status, "task-finished"), written
    assert written["execution_arn"] == execution_arn
    written_at = datetime.datetime.fromisoformat(written["written_at"])
    assert written_at < _job_seen_ended(aws, execution_arn), written
    # As good as the state machine's: the job, its attempt, its exit code, its running time.
    [job] = aws.client("batch").describe_jobs(jobs=[written["job_id"]])["jobs"]
    assert job["jobName"].startswith(f"covalent-{run.dispatch_id}")
    assert (written["job_status"], written["attempts"], written["exit_code"]) == (
        status,
        1,
        exit_code,
    )
    assert written["started_at"] <= written["stopped_at"]
    assert written["usage"]["vcpu_seconds"] >= 0
    return written


def test_a_single_electron_announces_itself_before_the_state_machine_can(
    local_stack: Any, aws: Any
) -> None:
    def fine() -> int:
        return 7

    run = DirectRun(AWSBatchExecutor(pack_window=0))
    assert run(fine) == 7
    _announced_by_the_container(aws, local_stack, run, "SUCCEEDED", 0)


def test_a_raising_single_electron_announces_its_failure(local_stack: Any, aws: Any) -> None:
    def explode() -> None:
        raise ValueError("announced from the container")

    run = DirectRun(AWSBatchExecutor(pack_window=0))
    with pytest.raises(Exception, match="announced from the container") as raised:
        run(explode)
    written = _announced_by_the_container(aws, local_stack, run, "FAILED", 1)
    # The user still gets the remote traceback and the job it ran in.
    assert "Remote traceback" in str(raised.value)
    assert f"raised in AWS Batch job {written['job_id']} after 1 attempt" in str(raised.value)
