"""A pack's end: the Lambda records the electrons whose array child could not (moto's S3).

Batch's side is a recorded ListJobs answer in the shape AWS documents (JobSummary: jobId
``PARENT:INDEX``, status, statusReason, container.exitCode, arrayProperties.index).
"""

from __future__ import annotations

import json

import boto3
import pytest
from chalice.test import Client

import covalent_eventbatch.chalice_app.app as lambda_app
from covalent_eventbatch.statemachine.definition import EVENT_DETAIL_TYPE, EVENT_SOURCE

BUCKET = "markers-bucket"
EXECUTION = "arn:aws:states:us-east-1:1:execution:covalent-eventbatch:d-1-nodes-4-7-abc"
MANIFEST = {"Bucket": BUCKET, "Key": "covalent/tasks/d-1/packs/4-7-abc.json"}
PACK_MARKER = {"Bucket": BUCKET, "Key": "covalent/markers/d-1/pack-4-7-abc.json"}


def _key(node: int) -> str:
    return f"covalent/markers/d-1/{node}.json"


class _Batch:
    """ListJobs(arrayJobId, jobStatus=FAILED), paginated as boto3 does."""

    def __init__(self, failed: list[dict]) -> None:
        self.failed = failed
        self.calls: list[dict] = []

    def get_paginator(self, name: str):  # type: ignore[no-untyped-def]
        assert name == "list_jobs"
        return self

    def paginate(self, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(kwargs)
        yield {"jobSummaryList": self.failed if kwargs["jobStatus"] == "FAILED" else []}


@pytest.fixture
def s3(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> object:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    monkeypatch.setattr(lambda_app, "_s3", client)
    manifest = {
        "version": 1,
        "execution_arn": EXECUTION,
        "tasks": [
            {"node_id": n, "task_uri": "s3://x/", "marker": {"Bucket": BUCKET, "Key": _key(n)}}
            for n in (4, 5, 7)
        ],
    }
    client.put_object(Body=json.dumps(manifest).encode(), **MANIFEST)
    return client


def _invoke(detail: dict) -> dict:
    with Client(lambda_app.app) as client:
        event = client.events.generate_cw_event(
            source=EVENT_SOURCE,
            detail_type=EVENT_DETAIL_TYPE,
            resources=[],
            detail={
                "ExecutionArn": EXECUTION,
                "Marker": PACK_MARKER,
                "Manifest": MANIFEST,
                **detail,
            },
        )
        return dict(client.lambda_.invoke("on_task_finished", event).payload)


def _marker(s3, node: int) -> dict | None:  # type: ignore[no-untyped-def]
    try:
        return json.loads(s3.get_object(Bucket=BUCKET, Key=_key(node))["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def test_killed_child_gets_its_marker_and_a_reported_one_keeps_its_own(s3, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    own = {"status": "FAILED", "source": "task-finished", "job_id": "p:0"}
    s3.put_object(Bucket=BUCKET, Key=_key(4), Body=json.dumps(own).encode())
    batch = _Batch(
        [
            {"jobId": "p:0", "status": "FAILED", "container": {"exitCode": 1}},
            {
                "jobId": "p:2",
                "status": "FAILED",
                "statusReason": "Essential container in task exited",
                "container": {"exitCode": 137, "reason": "OutOfMemoryError: Container killed"},
                "arrayProperties": {"index": 2},
                "startedAt": 1000,
                "stoppedAt": 5000,
            },
        ]
    )
    monkeypatch.setattr(lambda_app, "_batch", batch)
    cause = json.dumps({"JobId": "p", "Status": "FAILED"})
    answer = _invoke({"Status": "FAILED", "Error": "States.TaskFailed", "Cause": cause})
    assert answer["pack"] == {"written": 1, "present": 1}
    assert batch.calls == [{"arrayJobId": "p", "jobStatus": "FAILED"}]
    assert _marker(s3, 4) == own  # the child's own report stands
    assert _marker(s3, 5) is None  # succeeded: it reported itself
    killed = _marker(s3, 7)
    assert killed["status"] == "FAILED" and killed["source"] == "array-job-end"
    assert killed["job_id"] == "p:2" and killed["exit_code"] == 137
    assert "OutOfMemoryError" in killed["reason"]
    assert killed["execution_arn"] == EXECUTION


def test_array_job_never_submitted_fails_every_electron_with_the_cause(s3, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    batch = _Batch([])
    monkeypatch.setattr(lambda_app, "_batch", batch)
    answer = _invoke(
        {
            "Status": "FAILED",
            "Error": "Batch.ClientException",
            "Cause": "Job queue q does not exist",
        }
    )
    assert answer["pack"] == {"written": 3, "present": 0}
    assert batch.calls == []
    for node in (4, 5, 7):
        doc = _marker(s3, node)
        assert doc["error"] == "Batch.ClientException"
        assert doc["reason"] == "Job queue q does not exist"


def test_a_pack_that_succeeded_adds_nothing(s3, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    batch = _Batch([])
    monkeypatch.setattr(lambda_app, "_batch", batch)
    answer = _invoke({"Status": "SUCCEEDED", "Job": {"JobId": "p", "Status": "SUCCEEDED"}})
    assert answer["written"] is True  # the pack's own marker
    assert answer["pack"] == {"written": 0, "present": 0}
    assert all(_marker(s3, n) is None for n in (4, 5, 7))
