"""Following a stack operation: each event said once, oldest first, until the stack settles."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber

from covalent_eventbatch.controlplane import stackevents
from covalent_eventbatch.controlplane.errors import DeployError

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)
STACK = "arn:aws:cloudformation:us-east-1:123456789012:stack/s/0"


def _event(n: int, status: str, resource: str = "Bucket", reason: str = "") -> dict:
    event = {
        "StackId": STACK,
        "EventId": f"e{n}",
        "StackName": "s",
        "LogicalResourceId": resource,
        "ResourceType": "AWS::S3::Bucket" if resource == "Bucket" else "AWS::CloudFormation::Stack",
        "Timestamp": T0 + timedelta(seconds=n),
        "ResourceStatus": status,
    }
    if reason:
        event["ResourceStatusReason"] = reason
    return event


def _status(status: str) -> dict:
    return {
        "Stacks": [{"StackName": "s", "StackId": STACK, "CreationTime": T0, "StackStatus": status}]
    }


def test_events_are_said_once_in_order_while_the_stack_works() -> None:
    cfn = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    old = _event(0, "UPDATE_COMPLETE", "s")  # before this operation: not news
    first = [
        _event(2, "CREATE_IN_PROGRESS", reason="Resource creation Initiated"),
        _event(1, "CREATE_IN_PROGRESS", "s"),
    ]
    then = [_event(3, "CREATE_COMPLETE"), *first, old]
    last = [_event(4, "CREATE_COMPLETE", "s"), *then]
    said: list[str] = []
    sleeps: list[float] = []
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": [*first, old]})
        stub.add_response("describe_stacks", _status("CREATE_IN_PROGRESS"))
        stub.add_response("describe_stack_events", {"StackEvents": then})
        stub.add_response("describe_stacks", _status("CREATE_IN_PROGRESS"))
        stub.add_response("describe_stack_events", {"StackEvents": last})
        stub.add_response("describe_stacks", _status("CREATE_COMPLETE"))
        stub.add_response("describe_stack_events", {"StackEvents": last})
        status = stackevents.follow(
            cfn, STACK, said.append, since=old["Timestamp"], sleep=sleeps.append
        )
    assert status == "CREATE_COMPLETE"
    assert sleeps == [stackevents.POLL_S, stackevents.POLL_S]
    assert [line.split()[1:][:2] for line in said] == [
        ["CREATE_IN_PROGRESS", "AWS::CloudFormation::Stack"],
        ["CREATE_IN_PROGRESS", "AWS::S3::Bucket"],
        ["CREATE_COMPLETE", "AWS::S3::Bucket"],
        ["CREATE_COMPLETE", "AWS::CloudFormation::Stack"],
    ]
    assert said[1].startswith("12:00:02") and said[1].endswith(
        "Bucket: Resource creation Initiated"
    )


def test_a_stack_that_ends_elsewhere_is_unsettled() -> None:
    cfn = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    failed = _event(1, "CREATE_FAILED", reason="Bucket name taken")
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": [failed]})
        stub.add_response("describe_stacks", _status("ROLLBACK_COMPLETE"))
        stub.add_response("describe_stack_events", {"StackEvents": [failed]})
        said: list[str] = []
        with pytest.raises(stackevents.Unsettled) as raised:
            stackevents.wait_for(cfn, STACK, "CREATE_COMPLETE", said.append)
    assert raised.value.status == "ROLLBACK_COMPLETE"
    assert said == [stackevents.event_line(failed)]


def test_waiting_is_bounded() -> None:
    cfn = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b"
    )
    now = iter([0.0, 10.0])
    with Stubber(cfn) as stub:
        stub.add_response("describe_stack_events", {"StackEvents": []})
        stub.add_response("describe_stacks", _status("UPDATE_IN_PROGRESS"))
        with pytest.raises(DeployError, match="still UPDATE_IN_PROGRESS after"):
            stackevents.follow(cfn, STACK, print, limit_s=5, clock=lambda: next(now))


def test_a_real_create_is_followed_to_its_end(moto_aws) -> None:
    cfn = boto3.client("cloudformation")
    template = {"Resources": {"Bucket": {"Type": "AWS::S3::Bucket"}}}
    created = cfn.create_stack(StackName="followed", TemplateBody=json.dumps(template))
    said: list[str] = []
    stackevents.wait_for(cfn, created["StackId"], "CREATE_COMPLETE", said.append)
    # moto records the stack's own events (AWS adds one per resource step).
    assert "CREATE_IN_PROGRESS" in said[0] and "followed: User Initiated" in said[0], said
    assert "CREATE_COMPLETE" in said[-1] and "AWS::CloudFormation::Stack" in said[-1], said
    assert len(said) == len(set(said))
    assert stackevents.stack_id(cfn, "followed") == created["StackId"]
    assert stackevents.stack_id(cfn, "never-made") is None
