"""The Lambda's handlers, through Chalice's own test client, writing to moto's S3."""

from __future__ import annotations

import json

import boto3
import pytest
from chalice.test import Client

import covalent_eventbatch.chalice_app.app as lambda_app
from covalent_eventbatch.statemachine.definition import EVENT_DETAIL_TYPE, EVENT_SOURCE

BUCKET = "markers-bucket"
EXECUTION = "arn:aws:states:us-east-1:1:execution:covalent-eventbatch:d-1-4"
KEY = "covalent/markers/d-1/4.json"


@pytest.fixture
def s3(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> object:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    monkeypatch.setattr(lambda_app, "_s3", client)
    return client


def _task_event(client: Client, detail: dict) -> dict:
    """A "Task Finished" event of this deployment's state machine."""
    return client.events.generate_cw_event(
        source=EVENT_SOURCE,
        detail_type=EVENT_DETAIL_TYPE,
        resources=[],
        detail={"ExecutionArn": EXECUTION, **detail},
    )


def _marker(s3) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(s3.get_object(Bucket=BUCKET, Key=KEY)["Body"].read())


SUCCEEDED_JOB = {
    "JobId": "job-1",
    "Status": "SUCCEEDED",
    "Attempts": [{"Container": {"ExitCode": 0, "LogStreamName": "covalent/default/abc"}}],
}


def test_constants_match_the_state_machine() -> None:
    assert (lambda_app.EVENT_SOURCE, lambda_app.EVENT_DETAIL_TYPE) == (
        EVENT_SOURCE,
        EVENT_DETAIL_TYPE,
    )


def test_success_event_writes_the_marker(s3) -> None:  # type: ignore[no-untyped-def]
    with Client(lambda_app.app) as client:
        detail = {
            "Marker": {"Bucket": BUCKET, "Key": KEY},
            "Status": "SUCCEEDED",
            "Job": SUCCEEDED_JOB,
        }
        response = client.lambda_.invoke("on_task_finished", _task_event(client, detail))
    assert response.payload["written"] is True
    marker = _marker(s3)
    assert marker["status"] == "SUCCEEDED"
    assert marker["job_id"] == "job-1"
    assert marker["exit_code"] == 0
    assert marker["attempts"] == 1
    assert marker["log_stream"] == "covalent/default/abc"
    assert marker["source"] == "task-finished"


def test_duplicate_and_late_events_keep_the_first_outcome(s3) -> None:  # type: ignore[no-untyped-def]
    failed_job = {
        "JobId": "job-1",
        "Status": "FAILED",
        "StatusReason": "Essential container in task exited",
        "Attempts": [{"Container": {"ExitCode": 1}}],
    }
    with Client(lambda_app.app) as client:
        first = {
            "Marker": {"Bucket": BUCKET, "Key": KEY},
            "Status": "FAILED",
            "Error": "States.TaskFailed",
            "Cause": json.dumps(failed_job),
        }
        again = client.lambda_.invoke("on_task_finished", _task_event(client, first))
        assert again.payload["written"] is True
        duplicate = client.lambda_.invoke("on_task_finished", _task_event(client, first))
        late = client.lambda_.invoke(
            "on_task_finished",
            _task_event(
                client,
                {
                    "Marker": {"Bucket": BUCKET, "Key": KEY},
                    "Status": "SUCCEEDED",
                    "Job": SUCCEEDED_JOB,
                },
            ),
        )
    assert duplicate.payload["written"] is False
    assert late.payload["written"] is False
    marker = _marker(s3)
    assert marker["status"] == "FAILED"
    assert marker["exit_code"] == 1
    assert marker["reason"] == "Essential container in task exited"


def test_failure_before_the_job_keeps_step_functions_cause(s3) -> None:  # type: ignore[no-untyped-def]
    cause = "Job queue does-not-exist does not exist (Service: AWSBatch; Status Code: 400)"
    with Client(lambda_app.app) as client:
        detail = {
            "Marker": {"Bucket": BUCKET, "Key": KEY},
            "Status": "FAILED",
            "Error": "Batch.ClientException",
            "Cause": cause,
        }
        client.lambda_.invoke("on_task_finished", _task_event(client, detail))
    marker = _marker(s3)
    assert marker["error"] == "Batch.ClientException"
    assert marker["reason"] == cause
    assert marker["job_id"] is None


def test_execution_status_event_covers_a_stopped_execution(s3) -> None:  # type: ignore[no-untyped-def]
    execution_input = {"Marker": {"Bucket": BUCKET, "Key": KEY}}
    with Client(lambda_app.app) as client:
        event = client.events.generate_cw_event(
            source="aws.states",
            detail_type="Step Functions Execution Status Change",
            resources=[],
            detail={
                "executionArn": EXECUTION,
                "stateMachineArn": "arn:aws:states:us-east-1:1:stateMachine:covalent-eventbatch",
                "status": "ABORTED",
                "input": json.dumps(execution_input),
                "error": "Cancelled",
                "cause": "stopped by an operator",
            },
        )
        response = client.lambda_.invoke("on_execution_status", event)
    assert response.payload["written"] is True
    marker = _marker(s3)
    assert (marker["status"], marker["source"], marker["reason"]) == (
        "ABORTED",
        "execution-status",
        "stopped by an operator",
    )


def test_events_without_a_marker_location_are_ignored(s3) -> None:  # type: ignore[no-untyped-def]
    with Client(lambda_app.app) as client:
        response = client.lambda_.invoke(
            "on_task_finished",
            _task_event(
                client,
                {"Status": "SUCCEEDED", "Marker": {"Bucket": BUCKET, "Key": "elsewhere/x.json"}},
            ),
        )
    assert response.payload["written"] is False
    assert "outside a markers/ prefix" in response.payload["ignored"]
    assert s3.list_objects_v2(Bucket=BUCKET).get("KeyCount") == 0


def test_s3_failure_fails_the_invocation_so_it_is_retried(s3) -> None:  # type: ignore[no-untyped-def]
    detail = {
        "Marker": {"Bucket": "no-such-bucket", "Key": KEY},
        "Status": "SUCCEEDED",
        "Job": SUCCEEDED_JOB,
    }
    with Client(lambda_app.app) as client, pytest.raises(Exception, match="NoSuchBucket"):
        client.lambda_.invoke("on_task_finished", _task_event(client, detail))
