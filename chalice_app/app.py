"""The control plane's Lambda: completion events in, markers in S3 out.

Deployed with ``chalice deploy`` from the repository root (the root ``app.py`` re-exports this
app), or as part of the control plane's CloudFormation stack (``chalice package`` with
``controlplane/control-plane.json`` merged in). Handlers raise on S3 errors so that the
invocation fails and EventBridge retries it.

Which state machine is ours: its name, ``EVENTBATCH_STATE_MACHINE_NAME`` (default
``covalent-eventbatch``, set per stage in ``.chalice/config.json``), narrows the execution-status
rule by ARN suffix; the CloudFormation stack replaces that with the exact ARN and sets
``EVENTBATCH_STATE_MACHINE_ARN``. Either way the handlers check again at run time (see ``ours``),
because an event rule is one edit away from matching more than it should.
"""

from __future__ import annotations

import json
import logging
import os

import boto3
from botocore.config import Config
from chalice import Chalice

from .markers import (
    InvalidEvent,
    execution_needs_description,
    marker_from_execution_event,
    marker_from_task_event,
    write_once,
)
from .packs import BUDGET_S, WRITERS, reconcile
from .wakeups import send as send_wakeups

app = Chalice(app_name="covalent-eventbatch")
app.log.setLevel(logging.INFO)

EVENT_SOURCE = "covalent.eventbatch"
EVENT_DETAIL_TYPE = "Task Finished"
DEFAULT_STATE_MACHINE_NAME = "covalent-eventbatch"
# Read when Chalice builds the rule (at packaging time): the deploying shell may override it.
STATE_MACHINE_NAME = os.environ.get("EVENTBATCH_STATE_MACHINE_NAME") or DEFAULT_STATE_MACHINE_NAME

_s3 = None
_sfn = None
_batch = None
_events = None
_sqs = None
_END_MARGIN_S = 6.0


def _s3_client():
    global _s3
    if _s3 is None:
        # A failed pack's markers are written by a pool of threads (packs.WRITERS).
        _s3 = boto3.client("s3", config=Config(max_pool_connections=WRITERS))
    return _s3


def _sfn_client():
    global _sfn
    if _sfn is None:
        _sfn = boto3.client("stepfunctions")
    return _sfn


def _events_client():
    global _events
    if _events is None:
        _events = boto3.client("events")
    return _events


def _sqs_client():
    global _sqs
    if _sqs is None:
        # A wake-up is worth a second or two: a queue that does not answer soon is left to the
        # waiting process's listing rather than eating the function's time.
        _sqs = boto3.client(
            "sqs",
            config=Config(
                connect_timeout=2, read_timeout=5, retries={"mode": "standard", "max_attempts": 1}
            ),
        )
    return _sqs


def _batch_client():
    global _batch
    if _batch is None:
        _batch = boto3.client("batch")
    return _batch


def _write(location: dict, doc: dict) -> dict:
    wrote = write_once(_s3_client(), location, doc)
    app.log.info(
        "marker s3://%s/%s %s (%s)",
        location["Bucket"],
        location["Key"],
        "written" if wrote else "already present",
        doc["status"],
    )
    # Only the first outcome wakes the process: each electron has two or three announcements,
    # and a wake-up for a task already resolved would cost its process a receive. (An
    # invocation that failed between the write and this send leaves it to the fallback listing.)
    if wrote:
        send_wakeups(_sqs_client(), [(location, doc)])
    return {"written": wrote, **location}


@app.on_cw_event(
    {"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE]}, name="on_task_finished"
)
def on_task_finished(event):
    if not ours(state_machine_of_execution(event.detail.get("ExecutionArn"))):
        app.log.warning("ignored event %s of another state machine", event.event_id)
        return {"written": False, "ignored": "another state machine"}
    try:
        location, doc = marker_from_task_event(event.detail)
    except InvalidEvent as exc:
        app.log.error("ignored event %s: %s", event.event_id, exc)
        return {"written": False, "ignored": str(exc)}
    written = _write(location, doc)
    if event.detail.get("Manifest"):
        # A pack's array job ended: record the electrons whose child could not.
        counts = reconcile(
            _s3_client(),
            _batch_client(),
            event.detail,
            budget_s=_budget_s(event.context),
            wake=lambda written: send_wakeups(_sqs_client(), written),
        )
        app.log.info("pack %s: %s", location["Key"], counts)
        if counts["pending"]:
            _hand_on(event.detail, counts["pending"])
        written["pack"] = counts
    return written


def _budget_s(context: object) -> float:
    """The time this invocation may spend on a pack's markers: what is left, less the margin
    its own end needs (handing the rest on)."""
    remaining = context.get_remaining_time_in_millis() / 1000 if context else BUDGET_S  # type: ignore[attr-defined]
    return max(0.0, min(BUDGET_S, remaining - min(_END_MARGIN_S, remaining / 4)))


def _hand_on(detail: dict, pending: list[list[int]]) -> None:
    """Send the pack's event again, to record the electrons of the pending entry ranges.

    Raises when EventBridge does not take it, so that this invocation fails and is retried.
    """
    entry = {
        "Source": EVENT_SOURCE,
        "DetailType": EVENT_DETAIL_TYPE,
        "Detail": json.dumps({**detail, "Pending": pending}),
    }
    response = _events_client().put_events(Entries=[entry])
    if response.get("FailedEntryCount"):
        raise RuntimeError(
            f"could not hand on the pack's markers {pending}: {response.get('Entries')}"
        )
    app.log.info("pack markers %s handed on", pending)


def state_machine_of_execution(execution_arn: object) -> str | None:
    """arn:P:states:R:A:execution:MACHINE:NAME -> arn:P:states:R:A:stateMachine:MACHINE."""
    if not isinstance(execution_arn, str):
        return None
    parts = execution_arn.split(":")
    if len(parts) < 8 or parts[5] != "execution":
        return None
    return ":".join([*parts[:5], "stateMachine", parts[6]])


def ours(state_machine_arn: object) -> bool:
    """Whether events of this state machine are ours to record (read at call time)."""
    if not isinstance(state_machine_arn, str):
        return False
    exact = os.environ.get("EVENTBATCH_STATE_MACHINE_ARN")
    if exact:
        return state_machine_arn == exact
    name = os.environ.get("EVENTBATCH_STATE_MACHINE_NAME") or DEFAULT_STATE_MACHINE_NAME
    return state_machine_arn.endswith(f":stateMachine:{name}")


EXECUTION_PATTERN: dict = {
    "source": ["aws.states"],
    "detail-type": ["Step Functions Execution Status Change"],
    # EventBridge suffix matching: the account and region need not be known when packaging.
    "detail": {
        "status": ["FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED"],
        "stateMachineArn": [{"suffix": f":stateMachine:{STATE_MACHINE_NAME}"}],
    },
}


@app.on_cw_event(EXECUTION_PATTERN, name="on_execution_status")
def on_execution_status(event):
    if not ours(event.detail.get("stateMachineArn")):
        app.log.warning("ignored event %s of another state machine", event.event_id)
        return {"written": False, "ignored": "another state machine"}
    detail = event.detail
    if execution_needs_description(detail):
        detail = _describe(detail.get("executionArn"))
    try:
        found = marker_from_execution_event(detail)
    except InvalidEvent as exc:
        app.log.error("ignored event %s: %s", event.event_id, exc)
        return {"written": False, "ignored": str(exc)}
    if found is None:
        return {"written": False, "ignored": "not a terminal status"}
    return _write(*found)


def _describe(execution_arn: str) -> dict:
    """The execution as DescribeExecution tells it: the event left out what the marker needs.

    Raises on failure, so that the invocation fails and EventBridge retries it; the executor's
    sweep is the last resort.
    """
    sfn = _sfn_client()
    try:
        return sfn.describe_execution(executionArn=execution_arn)
    except sfn.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        app.log.error(
            "DescribeExecution %s failed (%s): the execution status event lacks the input, "
            "output or error this marker needs, and the function's role must allow "
            "states:DescribeExecution on this state machine's executions",
            execution_arn,
            code,
        )
        raise
