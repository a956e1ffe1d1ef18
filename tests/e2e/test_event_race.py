"""The two completion events of one execution, in either order, on the local stack.

On AWS "Task Finished" (PutEvents from the state machine) and "Step Functions Execution Status
Change" reach two Lambda invocations in any order. moto emits no status events, so after a real
task has run, its status event is built from DescribeExecution in the shape AWS documents (no
``error`` or ``cause``: the handler must describe the execution itself) and its "Task Finished"
event is taken from the execution's history (the PutEvents task's own parameters). Both are then
handed to the handlers in each order, as the relay hands events to them; each order must write
the same marker. The live run's marker came first from the container's own announcement: it
must tell the same outcome (the container cannot know Batch's status reason, nor, on the local
stack, its log stream, which the failure message needs only when the container could not report).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import covalent_eventbatch.chalice_app.app as lambda_app
from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor
from covalent_eventbatch.localaws import stack
from covalent_eventbatch.localaws.relay import deliver

from .harness import DirectRun
from .helpers import execution_ended

pytestmark = pytest.mark.e2e
FACTS = ("status", "job_id", "attempts", "exit_code", "reason", "log_stream", "error", "cause")
# What the container's announcement tells as the state machine's does.
CONTAINER_FACTS = ("status", "execution_arn", "job_id", "job_status", "attempts", "exit_code")


@pytest.fixture
def handlers(local_stack: Any, aws: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The deployed handlers, with this process's clients on the local stack."""
    monkeypatch.setenv("EVENTBATCH_STATE_MACHINE_ARN", stack.StackState.load().state_machine_arn)
    monkeypatch.setattr(lambda_app, "_s3", aws.client("s3"))
    monkeypatch.setattr(lambda_app, "_sfn", aws.client("stepfunctions"))
    monkeypatch.setattr(lambda_app, "_sqs", aws.client("sqs"))
    return {"aws.states": lambda_app.on_execution_status, "*": lambda_app.on_task_finished}


def _finished(aws: Any, dispatch_id: str) -> dict[str, Any]:
    machine = stack.StackState.load().state_machine_arn
    arn = machine.replace(":stateMachine:", ":execution:") + f":{dispatch_id}-0"
    return execution_ended(aws, arn, timeout_s=30)


def _task_finished(aws: Any, execution_arn: str, account: str) -> dict[str, Any]:
    """The "Task Finished" event the execution put, from its history."""
    history = aws.client("stepfunctions").get_execution_history(
        executionArn=execution_arn, reverseOrder=True
    )["events"]
    for event in history:
        details = event.get("taskScheduledEventDetails") or {}
        if details.get("resourceType") == "events" and details.get("resource") == "putEvents":
            entry = json.loads(details["parameters"])["Entries"][0]
            detail = entry["Detail"]
            return {
                "version": "0",
                "id": "task-finished",
                "detail-type": entry["DetailType"],
                "source": entry["Source"],
                "account": account,
                "time": "2025-12-01T00:00:00Z",
                "region": aws.region,
                "resources": [],
                "detail": detail if isinstance(detail, dict) else json.loads(detail),
            }
    raise AssertionError(f"no putEvents task in the history of {execution_arn}")


def _status_change(described: dict[str, Any], account: str, region: str) -> dict[str, Any]:
    """The execution's status event, as AWS documents it."""
    output = described.get("output")
    return {
        "version": "0",
        "id": "status-change",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": account,
        "time": "2025-12-01T00:00:00Z",
        "region": region,
        "resources": [described["executionArn"]],
        "detail": {
            "executionArn": described["executionArn"],
            "stateMachineArn": described["stateMachineArn"],
            "name": described["name"],
            "status": described["status"],
            "startDate": int(described["startDate"].timestamp() * 1000),
            "stopDate": int(described["stopDate"].timestamp() * 1000),
            "input": described["input"],
            "inputDetails": {"included": True},
            "output": output,
            "outputDetails": {"included": True} if output is not None else None,
        },
    }


def _check_both_orders(
    aws: Any, handlers: dict[str, Any], dispatch_id: str
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(the live marker, the state machine's, the execution described)."""
    described = _finished(aws, dispatch_id)
    account = aws.client("sts").get_caller_identity()["Account"]
    task_event = _task_finished(aws, described["executionArn"], account)
    status_event = _status_change(described, account, aws.region)
    marker = json.loads(described["input"])["Marker"]
    where = {"Bucket": marker["Bucket"], "Key": marker["Key"]}
    s3 = aws.client("s3")

    def read() -> dict[str, Any]:
        return dict(json.loads(s3.get_object(**where)["Body"].read()))

    live = read()  # written during the run, by the relay
    assert live["source"] == "task-finished"
    written = []
    for order in ((task_event, status_event), (status_event, task_event)):
        s3.delete_object(**where)
        for i, event in enumerate(order):
            result = deliver(json.dumps(event), handlers, account)
            assert result["written"] is (i == 0), result
        again = read()
        assert again["source"] == (
            "task-finished" if order[0] is task_event else "execution-status"
        )
        written.append(again)
    assert {k: written[0][k] for k in FACTS} == {k: written[1][k] for k in FACTS}
    assert {k: live[k] for k in CONTAINER_FACTS} == {k: written[0][k] for k in CONTAINER_FACTS}
    return live, written[0], described


def test_succeeded_task(handlers: dict[str, Any], aws: Any) -> None:
    def fine() -> int:
        return 7

    run = DirectRun(AWSBatchExecutor())
    assert run(fine) == 7
    _, marker, described = _check_both_orders(aws, handlers, run.dispatch_id)
    assert marker["status"] == "SUCCEEDED" and marker["job_id"]
    # The execution's output is the outcome "Task Finished" announced.
    assert set(json.loads(described["output"])) == {"Marker", "Status", "Job"}


def test_failed_task(handlers: dict[str, Any], aws: Any) -> None:
    def explode() -> None:
        raise ValueError("boom")

    run = DirectRun(AWSBatchExecutor())
    with pytest.raises(Exception, match="boom"):
        run(explode)
    live, marker, described = _check_both_orders(aws, handlers, run.dispatch_id)
    assert (marker["status"], marker["error"]) == ("FAILED", "States.TaskFailed")
    # The container names the failure as a pack's child does: its task's exit status.
    assert (live["error"], live["cause"]) == ("Task.ExitStatus", None)
    # A Fail state may not report a "States." error: the execution's carries a prefix.
    assert described["error"] == "EventBatch.States.TaskFailed"
    assert marker["job_id"] and marker["cause"] is None
