"""The Lambda against AWS's own events: every execution status, large events, and the race.

Each event is a fixture shaped as AWS documents it (``tests/fixtures/aws``). The "Task Finished"
event and a finished execution's output, error and cause are derived from the state machine's
definition itself, so that a change to the definition that made the two completion events of one
execution disagree fails here. Markers go to moto's S3; DescribeExecution answers come from a
botocore Stubber on a real client, which checks each request and response against the API's
model (moto cannot hold a FAILED execution with a chosen cause).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from chalice.test import Client

import covalent_eventbatch.chalice_app.app as lambda_app
import covalent_eventbatch.chalice_app.markers as markers
import covalent_eventbatch.statemachine.definition as definition
from covalent_eventbatch.statemachine.definition import (
    EVENT_DETAIL_TYPE,
    EVENT_SOURCE,
    build_definition,
)
from tests.fixtures.aws import described, load

INPUT = load("execution-input")
BUCKET, KEY = INPUT["Marker"]["Bucket"], INPUT["Marker"]["Key"]
EXECUTION = load("sfn-status-failed")["detail"]["executionArn"]
STATES = build_definition("aws")["States"]
CONTEXT = {"Execution": {"Id": EXECUTION}}
JOB_ID = "4f1c2a9e-7b1d-4c8e-a3f2-5d6e7f809a1b"
# What a marker tells the user; the rest (source, written_at) may differ between the two events.
FACTS = (
    "status",
    "job_id",
    "job_status",
    "attempts",
    "exit_code",
    "reason",
    "log_stream",
    "started_at",
    "stopped_at",
    "error",
    "cause",
)


def _path(path: str, document: Any) -> Any:
    """A reference path, or the one intrinsic the definition uses: States.Format('..{}..', $.p)."""
    formatted = re.fullmatch(r"States\.Format\('([^']*)', (\$[^)]*)\)", path)
    if formatted:
        return formatted[1].replace("{}", str(_path(formatted[2], document)), 1)
    root, rest = (CONTEXT, path[3:]) if path.startswith("$$.") else (document, path[2:])
    for part in filter(None, rest.split(".")):
        root = root[part]
    return root


def _apply(template: dict[str, Any], document: Any) -> dict[str, Any]:
    """Step Functions' Parameters: keys ending in .$ take the value at their path."""
    out: dict[str, Any] = {}
    for key, value in template.items():
        if key.endswith(".$"):
            out[key[:-2]] = _path(value, document)
        elif isinstance(value, dict):
            out[key] = _apply(value, document)
        else:
            out[key] = value
    return out


def _announced(state: str, state_input: dict[str, Any]) -> dict[str, Any]:
    """The "Task Finished" event the Notify state puts for this state input."""
    entry = _apply(STATES[state]["Parameters"]["Entries"][0], state_input)
    return {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": "123456789012",
        "time": "2025-12-01T14:40:44Z",
        "region": "us-east-1",
        "resources": [],
        "detail": entry["Detail"],
    }


def succeeded(job: dict[str, Any]) -> tuple[dict, dict, dict | None]:
    """(task event, status event, DescribeExecution answer) of an execution whose job succeeded."""
    outcome = _apply(STATES["Outcome"]["Parameters"], {**INPUT, "JobResult": job})
    status = load("sfn-status-succeeded")
    # The documented event carries the output: the outcome (NotifySucceeded keeps its input).
    assert STATES["NotifySucceeded"]["ResultPath"] is None
    status["detail"]["output"] = json.dumps(outcome, separators=(",", ":"))
    return _announced("NotifySucceeded", outcome), status, None


def failed(error: dict[str, str]) -> tuple[dict, dict, dict | None]:
    """The same for an execution caught with ``error`` ({Error, Cause}) and ended in Fail."""
    state = {**INPUT, "Error": error}
    fail = STATES["Failed"]
    describe = described("sfn-describe-execution-failed")
    describe.update(error=_path(fail["ErrorPath"], state), cause=_path(fail["CausePath"], state))
    # AWS documents the FAILED event without error and cause: the handler must describe.
    return _announced("NotifyFailed", state), load("sfn-status-failed"), describe


SCENARIOS: dict[str, tuple[Any, dict[str, Any]]] = {
    "succeeded after a host was reclaimed": (
        lambda: succeeded(load("batch-job-succeeded-after-host-reclaimed")),
        {
            "status": "SUCCEEDED",
            "job_id": JOB_ID,
            "attempts": 2,
            "exit_code": 0,
            "log_stream": "covalent/default/02c4e1f0a9b8c7d6e5f4a3b2c1d0e9f8",
        },
    ),
    "exit 1": (
        lambda: failed(load("sfn-submitjob-sync-error-exit-1")),
        {"status": "FAILED", "job_id": JOB_ID, "attempts": 1, "exit_code": 1, "cause": None},
    ),
    "out of memory": (
        lambda: failed(load("sfn-submitjob-sync-error-out-of-memory")),
        {
            "job_id": JOB_ID,
            "attempts": 1,
            "exit_code": 137,
            "reason": "Essential container in task exited; "
            "OutOfMemoryError: Container killed due to memory usage",
            "error": "States.TaskFailed",
            "log_stream": "covalent/default/01c4e1f0a9b8c7d6e5f4a3b2c1d0e9f8",
        },
    ),
    "timeout": (
        lambda: failed(load("sfn-submitjob-sync-error-timeout")),
        {"exit_code": 137, "reason": "Job attempt duration exceeded timeout", "attempts": 1},
    ),
    "host reclaimed twice": (
        lambda: failed(load("sfn-submitjob-sync-error-host-reclaimed")),
        {
            "attempts": 2,
            "exit_code": None,
            "reason": "Host EC2 (instance i-0f9e8d7c6b5a40312) terminated.",
            "log_stream": "covalent/default/02c4e1f0a9b8c7d6e5f4a3b2c1d0e9f8",
        },
    ),
    "image pull failed twice": (
        lambda: failed(load("sfn-submitjob-sync-error-image-pull")),
        {"attempts": 2, "exit_code": None, "log_stream": None, "started_at": None},
    ),
    "job queue not found": (
        lambda: failed(load("sfn-submitjob-sync-error-queue-not-found")),
        {"job_id": None, "attempts": None, "error": "Batch.ClientException"},
    ),
}


@pytest.fixture
def aws(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, Stubber]]:
    """moto's S3 with the marker bucket, and a stubbed Step Functions client for the handler."""
    monkeypatch.delenv("EVENTBATCH_STATE_MACHINE_ARN", raising=False)
    monkeypatch.delenv("EVENTBATCH_STATE_MACHINE_NAME", raising=False)
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    sfn = boto3.client("stepfunctions")
    monkeypatch.setattr(lambda_app, "_s3", s3)
    monkeypatch.setattr(lambda_app, "_sfn", sfn)
    with Stubber(sfn) as stubber:
        yield s3, stubber
        stubber.assert_no_pending_responses()  # every answer given was asked for


def _expect_describe(stubber: Stubber, answer: dict[str, Any] | None) -> None:
    if answer is not None:
        stubber.add_response("describe_execution", answer, {"executionArn": EXECUTION})


def _invoke(event: dict[str, Any]) -> dict[str, Any]:
    handler = "on_execution_status" if event["source"] == "aws.states" else "on_task_finished"
    with Client(lambda_app.app) as client:
        return client.lambda_.invoke(handler, event).payload


def _marker(s3: Any) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())


def test_a_failed_execution_reports_a_custom_error_name() -> None:
    """The States Language reserves "States." names: the Fail state's error must not be one."""
    state = {**INPUT, "Error": load("sfn-submitjob-sync-error-exit-1")}
    error = _path(STATES["Failed"]["ErrorPath"], state)
    assert error == "EventBatch.States.TaskFailed"
    assert not error.startswith("States.")
    assert markers.FAILED_ERROR_PREFIX == definition.FAILED_ERROR_PREFIX


def test_task_finished_constants_are_the_state_machine_s() -> None:
    event = _announced("NotifySucceeded", {"Marker": INPUT["Marker"], "Job": {}})
    assert (event["source"], event["detail-type"]) == (EVENT_SOURCE, EVENT_DETAIL_TYPE)
    assert (lambda_app.EVENT_SOURCE, lambda_app.EVENT_DETAIL_TYPE) == (
        EVENT_SOURCE,
        EVENT_DETAIL_TYPE,
    )


def test_the_documented_succeeded_event_is_the_state_machine_s_output() -> None:
    _, event, _ = succeeded(load("batch-job-succeeded-after-host-reclaimed"))
    assert event == load("sfn-status-succeeded")


@pytest.mark.parametrize("order", ["task event first", "status event first"])
@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_either_event_first_writes_the_same_marker(
    aws: tuple[Any, Stubber], scenario: str, order: str
) -> None:
    s3, stubber = aws
    build, expected = SCENARIOS[scenario]
    task_event, status_event, answer = build()
    first, second = (task_event, status_event)
    if order == "status event first":
        first, second = second, first
    markers = []
    for events in ((first, second), (task_event,), (status_event,)):
        s3.delete_object(Bucket=BUCKET, Key=KEY)
        for i, event in enumerate(events):
            if event is status_event:
                _expect_describe(stubber, answer)
            payload = _invoke(event)
            assert payload["written"] is (i == 0), payload
        markers.append(_marker(s3))
    raced, from_task, from_status = ({k: m[k] for k in FACTS} for m in markers)
    assert raced == from_task == from_status
    assert {k: raced[k] for k in expected} == expected
    assert {from_task["status"], from_status["status"]} <= {"SUCCEEDED", "FAILED"}
    assert markers[0]["source"] == (
        "task-finished" if order == "task event first" else "execution-status"
    )


def test_a_failed_event_that_carries_error_and_cause_needs_no_description(
    aws: tuple[Any, Stubber],
) -> None:
    s3, _ = aws
    _, event, answer = failed(load("sfn-submitjob-sync-error-out-of-memory"))
    assert answer is not None
    # AWS's events carry DescribeExecution's error and cause in practice, undocumented.
    event["detail"].update(error=answer["error"], cause=answer["cause"])
    assert _invoke(event)["written"] is True  # the stubber has no answer: no call was made
    assert _marker(s3)["exit_code"] == 137


@pytest.mark.parametrize(
    ("name", "answer"),
    [
        ("sfn-status-failed-input-omitted", "sfn-describe-execution-failed"),
        ("sfn-status-succeeded-input-omitted", "sfn-describe-execution-succeeded"),
    ],
)
def test_an_event_without_input_is_completed_by_describe_execution(
    aws: tuple[Any, Stubber], name: str, answer: str
) -> None:
    s3, stubber = aws
    event = load(name)
    assert event["detail"]["inputDetails"] == {"included": False}
    _expect_describe(stubber, described(answer))
    assert _invoke(event)["written"] is True
    marker = _marker(s3)  # where the execution input says, though the event did not
    assert (marker["job_id"], marker["status"]) == (JOB_ID, event["detail"]["status"])


def test_null_error_and_cause_are_described_too(aws: tuple[Any, Stubber]) -> None:
    s3, stubber = aws
    event = load("sfn-status-aborted")
    event["detail"].update(error=None, cause=None)
    _expect_describe(stubber, described("sfn-describe-execution-aborted"))
    assert _invoke(event)["written"] is True
    assert _marker(s3)["reason"] == "Cancelled by Covalent (ct.cancel)"


def test_running_is_not_an_outcome(aws: tuple[Any, Stubber]) -> None:
    s3, _ = aws
    payload = _invoke(load("sfn-status-running"))
    assert payload == {"written": False, "ignored": "not a terminal status"}
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0


def test_timed_out_execution(aws: tuple[Any, Stubber]) -> None:
    s3, stubber = aws
    _expect_describe(stubber, described("sfn-describe-execution-timed-out"))
    assert _invoke(load("sfn-status-timed-out"))["written"] is True
    marker = _marker(s3)
    assert (marker["status"], marker["job_id"], marker["reason"]) == ("TIMED_OUT", None, None)


def test_aborted_execution_keeps_the_stop_reason(aws: tuple[Any, Stubber]) -> None:
    s3, stubber = aws
    _expect_describe(stubber, described("sfn-describe-execution-aborted"))
    assert _invoke(load("sfn-status-aborted"))["written"] is True
    marker = _marker(s3)
    assert (marker["status"], marker["error"], marker["reason"]) == (
        "ABORTED",
        "Cancelled",
        "Cancelled by Covalent (ct.cancel)",
    )


def test_describe_refused_fails_the_invocation_so_it_is_retried(
    aws: tuple[Any, Stubber], caplog: pytest.LogCaptureFixture
) -> None:
    s3, stubber = aws
    stubber.add_client_error(
        "describe_execution",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: states:DescribeExecution",
        http_status_code=400,
        expected_params={"executionArn": EXECUTION},
    )
    with pytest.raises(ClientError, match="AccessDenied"):
        _invoke(load("sfn-status-failed-input-omitted"))
    assert "states:DescribeExecution" in caplog.text
    assert s3.list_objects_v2(Bucket=BUCKET)["KeyCount"] == 0
