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
    """ListJobs(arrayJobId, jobStatus), paginated as boto3 does, and DescribeJobs."""

    def __init__(
        self,
        failed: list[dict],
        succeeded: list[dict] | None = None,
        streams: dict[str, str] | None = None,
    ) -> None:
        self.listed = {"FAILED": failed, "SUCCEEDED": succeeded or []}
        self.streams = streams or {}
        self.calls: list[dict] = []
        self.described: list[list[str]] = []

    def get_paginator(self, name: str):  # type: ignore[no-untyped-def]
        assert name == "list_jobs"
        return self

    def paginate(self, **kwargs):  # type: ignore[no-untyped-def]
        self.calls.append(kwargs)
        yield {"jobSummaryList": self.listed.get(kwargs["jobStatus"], [])}

    def describe_jobs(self, jobs: list[str]) -> dict:
        assert len(jobs) <= 100  # DescribeJobs' limit
        self.described.append(jobs)
        return {
            "jobs": [
                {
                    "jobId": j,
                    "attempts": [{"container": {"logStreamName": self.streams[j]}}],
                }
                for j in jobs
                if j in self.streams
            ]
        }


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
    batch.streams = {"p:2": "def/default/attempt-of-p-2"}
    monkeypatch.setattr(lambda_app, "_batch", batch)
    cause = json.dumps({"JobId": "p", "Status": "FAILED"})
    answer = _invoke({"Status": "FAILED", "Error": "States.TaskFailed", "Cause": cause})
    assert answer["pack"] == {"written": 1, "present": 1, "pending": []}
    assert [(c["arrayJobId"], c["jobStatus"]) for c in batch.calls] == [
        ("p", "FAILED"),
        ("p", "SUCCEEDED"),
    ]
    assert _marker(s3, 4) == own  # the child's own report stands
    assert _marker(s3, 5) is None  # listed in neither: left to the executor's sweep
    killed = _marker(s3, 7)
    # ListJobs' summary has no log stream: DescribeJobs gives the killed child's.
    assert killed["log_stream"] == "def/default/attempt-of-p-2"
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
    assert answer["pack"] == {"written": 3, "present": 0, "pending": []}
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
    assert answer["pack"] == {"written": 0, "present": 0, "pending": []}
    assert all(_marker(s3, n) is None for n in (4, 5, 7))


def test_a_succeeded_child_whose_announcement_was_lost_is_recorded_succeeded(  # type: ignore[no-untyped-def]
    s3, monkeypatch
) -> None:
    """A sibling failed, and this child's own "Task Finished" never arrived: still SUCCEEDED."""
    batch = _Batch(
        [{"jobId": "p:0", "status": "FAILED", "container": {"exitCode": 1}}],
        succeeded=[
            {"jobId": "p:1", "status": "SUCCEEDED", "container": {"exitCode": 0}},
            {"jobId": "p:2", "status": "SUCCEEDED", "container": {"exitCode": 0}},
        ],
    )
    monkeypatch.setattr(lambda_app, "_batch", batch)
    cause = json.dumps({"JobId": "p", "Status": "FAILED"})
    answer = _invoke({"Status": "FAILED", "Error": "States.TaskFailed", "Cause": cause})
    assert answer["pack"] == {"written": 3, "present": 0, "pending": []}
    assert _marker(s3, 4)["status"] == "FAILED"
    for node, child in ((5, "p:1"), (7, "p:2")):
        doc = _marker(s3, node)
        assert (doc["status"], doc["source"], doc["job_id"]) == (
            "SUCCEEDED",
            "array-job-end",
            child,
        )


def _big_pack(s3, size: int) -> None:  # type: ignore[no-untyped-def]
    manifest = {
        "version": 1,
        "execution_arn": EXECUTION,
        "tasks": [
            {"node_id": n, "task_uri": "s3://x/", "marker": {"Bucket": BUCKET, "Key": _key(n)}}
            for n in range(size)
        ],
    }
    s3.put_object(Body=json.dumps(manifest).encode(), **MANIFEST)


def _all_failed(size: int) -> _Batch:
    reason = "CannotPullContainerError: pull access denied"
    return _Batch(
        [
            {"jobId": f"p:{i}", "status": "FAILED", "statusReason": reason, "container": {}}
            for i in range(size)
        ]
    )


def test_a_failed_pack_of_ten_thousand_is_recorded_or_handed_on_without_losing_any(s3) -> None:  # type: ignore[no-untyped-def]
    """A bad image fails every child at once: 10,000 markers, each with its child's reason.

    Each invocation stops within its budget and names the entries it left, which the next
    invocation (the handler sends the event again with Pending) records. moto's in-process S3
    takes a few ms a write, far slower than S3 with 32 writers.
    """
    import time

    from covalent_eventbatch.chalice_app.packs import BUDGET_S, reconcile

    _big_pack(s3, 10_000)
    detail = {"Status": "FAILED", "Manifest": MANIFEST, "ExecutionArn": EXECUTION}
    detail["Cause"] = json.dumps({"JobId": "p", "Status": "FAILED"})
    written = present = 0
    for invocation in range(1, 11):
        batch = _all_failed(10_000)
        started = time.monotonic()
        counts = reconcile(s3, batch, detail)
        took = time.monotonic() - started
        print(f"invocation {invocation}: {counts} in {took:.1f} s")
        assert took < BUDGET_S + 5  # inside the function's 30 s
        written += counts["written"]
        present += counts["present"]
        if not counts["pending"]:
            break
        detail = {**detail, "Pending": counts["pending"]}
    assert (written, present) == (10_000, 0)  # nothing lost, nothing done twice
    assert all(_marker(s3, n) is not None for n in range(10_000))
    assert "CannotPullContainerError" in _marker(s3, 9_999)["reason"]


def test_the_handler_hands_on_what_its_budget_left(s3, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from covalent_eventbatch.chalice_app import packs

    _big_pack(s3, 300)
    monkeypatch.setattr(lambda_app, "_batch", _all_failed(300))
    sent: list[dict] = []

    class _Events:
        def put_events(self, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's name
            sent.extend(Entries)
            return {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]}

    monkeypatch.setattr(lambda_app, "_events", _Events())
    ticks = iter(range(10**6))  # one unit per look at the clock: the budget ends mid-way

    def short_of_time(s3, batch, detail, budget_s, wake):  # type: ignore[no-untyped-def]
        assert 0 < budget_s <= packs.BUDGET_S  # from the invocation's remaining time
        return packs.reconcile(
            s3, batch, detail, budget_s=150, clock=lambda: next(ticks), wake=wake
        )

    monkeypatch.setattr(lambda_app, "reconcile", short_of_time)
    monkeypatch.setattr(packs, "WRITERS", 1)
    cause = json.dumps({"JobId": "p", "Status": "FAILED"})
    answer = _invoke({"Status": "FAILED", "Error": "States.TaskFailed", "Cause": cause})
    [[first, end]] = answer["pack"]["pending"]
    assert 0 < first < end == 300
    [entry] = sent
    assert (entry["Source"], entry["DetailType"]) == (EVENT_SOURCE, EVENT_DETAIL_TYPE)
    handed = json.loads(entry["Detail"])
    assert handed["Pending"] == [[first, 300]] and handed["Manifest"] == MANIFEST
    assert _marker(s3, first) is None and _marker(s3, first - 1) is not None
