"""Cancelling a packed electron before its pack's array job exists (executor/cancel.py)."""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
import pytest

from covalent_eventbatch.executor import cancel

BUCKET = "cancel-bucket"
MARKER = {"Bucket": BUCKET, "Key": "covalent/markers/d/7.json"}


class _Clients:
    """The two clients cancel_pack_member uses: moto's S3, and Batch's TerminateJob recorded."""

    def __init__(self) -> None:
        self.s3 = boto3.client("s3")
        self.terminated: list[tuple[str, str]] = []

    def client(self, service: str) -> Any:
        if service == "s3":
            return self.s3
        assert service == "batch"
        return self

    def terminate_job(self, jobId: str, reason: str) -> None:  # noqa: N803 - boto3's name
        self.terminated.append((jobId, reason))


@pytest.fixture
def clients(moto_aws: None) -> _Clients:
    made = _Clients()
    made.s3.create_bucket(Bucket=BUCKET)
    return made


def test_a_cancel_before_submission_takes_effect_at_once(clients, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    submitted_at = time.monotonic() + 2.5  # the array job appears later
    monkeypatch.setattr(
        cancel,
        "submitted_job_id",
        lambda c, arn: "parent" if time.monotonic() >= submitted_at else None,
    )
    started = time.monotonic()
    assert cancel.cancel_pack_member(clients, "arn:exec", 2, MARKER, wait_s=30)
    assert time.monotonic() - started < 1  # not waiting for the submission
    marker = json.loads(clients.s3.get_object(**MARKER)["Body"].read())
    assert (marker["status"], marker["source"]) == ("FAILED", "executor-cancel")
    assert marker["reason"] == cancel.CANCEL_REASON
    assert clients.terminated == []
    deadline = time.monotonic() + 10
    while not clients.terminated and time.monotonic() < deadline:
        time.sleep(0.2)
    assert clients.terminated == [("parent:2", cancel.CANCEL_REASON)]


def test_a_cancel_after_submission_terminates_the_child_and_names_it(clients, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(cancel, "submitted_job_id", lambda c, arn: "parent")
    assert cancel.cancel_pack_member(clients, "arn:exec", 0, MARKER)
    assert clients.terminated == [("parent:0", cancel.CANCEL_REASON)]
    marker = json.loads(clients.s3.get_object(**MARKER)["Body"].read())
    assert marker["job_id"] == "parent:0"
