"""Follow a CloudFormation stack operation: each stack event as it comes, until the stack settles.

A create takes minutes (a compute environment, roles, the Lambda); CloudFormation records one
event per resource step. They are read every few seconds with DescribeStackEvents (newest
first, so each read stops at the first event already shown) and said one line each, oldest
first. The stack is followed by its id, so a deleted stack can still be described.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from covalent_eventbatch.executor.awserrors import error_message

from .errors import DeployError

Say = Callable[[str], None]

POLL_S = 5.0
LIMIT_S = 1800.0  # CloudFormation's own create timeout is longer; a deploy says why it stopped


class Unsettled(DeployError):
    """The stack did not reach the status the operation aims at; ``status`` is where it ended."""

    def __init__(self, status: str) -> None:
        self.status = status
        super().__init__(f"the stack ended in {status}")


def describe_stack(cfn: Any, stack: str) -> dict[str, Any] | None:
    """DescribeStacks' record of the stack, or None when no stack of that name exists."""
    try:
        return dict(cfn.describe_stacks(StackName=stack)["Stacks"][0])
    except ClientError as exc:
        if "does not exist" in error_message(exc):
            return None
        raise


def stack_id(cfn: Any, stack: str) -> str | None:
    """The stack's id (its ARN), or None when no stack of that name exists."""
    found = describe_stack(cfn, stack)
    return str(found["StackId"]) if found else None


def last_event_time(cfn: Any, stack: str) -> datetime | None:
    """When the stack's newest event happened (AWS's clock): later events are this operation's."""
    events = cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
    return events[0]["Timestamp"] if events else None


def event_line(event: dict[str, Any]) -> str:
    when = event.get("Timestamp")
    clock = when.strftime("%H:%M:%S") if isinstance(when, datetime) else "--:--:--"
    reason = event.get("ResourceStatusReason") or ""
    text = (
        f"{clock}  {event.get('ResourceStatus', ''):<24} {event.get('ResourceType', ''):<34} "
        f"{event.get('LogicalResourceId', '')}"
    )
    return f"{text}: {reason}" if reason else text


def _new_events(
    cfn: Any, stack: str, seen: set[str], since: datetime | None
) -> list[dict[str, Any]]:
    """Events not yet said and later than ``since``, oldest first."""
    fresh: list[dict[str, Any]] = []
    for page in cfn.get_paginator("describe_stack_events").paginate(StackName=stack):
        for event in page.get("StackEvents", []):
            if event["EventId"] in seen or (since is not None and event["Timestamp"] <= since):
                return fresh[::-1]
            fresh.append(event)
    return fresh[::-1]


def follow(
    cfn: Any,
    stack: str,
    say: Say,
    since: datetime | None = None,
    poll_s: float = POLL_S,
    limit_s: float = LIMIT_S,
    sleep: Callable[[float], object] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Say each new event of ``stack`` (a name or, better, its id) until its status is no
    longer ``*_IN_PROGRESS``; return that status. ``since``: events until then are not news."""
    seen: set[str] = set()
    deadline = clock() + limit_s

    def catch_up() -> None:
        for event in _new_events(cfn, stack, seen, since):
            seen.add(event["EventId"])
            say(event_line(event))

    while True:
        catch_up()
        status = str(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
        if not status.endswith("_IN_PROGRESS"):
            catch_up()  # the events written while the status was read
            return status
        if clock() > deadline:
            raise DeployError(
                f"Stack {stack} is still {status} after {limit_s / 60:.0f} minutes; follow it in "
                "the CloudFormation console (or aws cloudformation describe-stack-events) and run "
                "'eventbatch deploy' again once it has settled."
            )
        sleep(poll_s)


def wait_for(cfn: Any, stack: str, goal: str, say: Say, since: datetime | None = None) -> None:
    """Follow the stack until it settles; raise Unsettled unless it ended in ``goal``."""
    status = follow(cfn, stack, say, since)
    if status != goal:
        raise Unsettled(status)
