"""The control plane's Lambda: completion events in, markers in S3 out.

Deployed with ``chalice deploy`` from the repository root (the root ``app.py`` re-exports this
app). Handlers raise on S3 errors so that the invocation fails and EventBridge retries it.
"""

from __future__ import annotations

import logging
import os

import boto3
from chalice import Chalice

from chalice_app.markers import (
    InvalidEvent,
    marker_from_execution_event,
    marker_from_task_event,
    write_once,
)

app = Chalice(app_name="covalent-eventbatch")
app.log.setLevel(logging.INFO)

EVENT_SOURCE = "covalent.eventbatch"
EVENT_DETAIL_TYPE = "Task Finished"
# Set by the deployment: only this state machine's status changes are of interest.
STATE_MACHINE_ARN = os.environ.get("EVENTBATCH_STATE_MACHINE_ARN", "")

_s3 = None


def _s3_client():
    global _s3
    if _s3 is None:
        _s3 = boto3.client("s3")
    return _s3


def _write(location: dict, doc: dict) -> dict:
    wrote = write_once(_s3_client(), location, doc)
    app.log.info(
        "marker s3://%s/%s %s (%s)",
        location["Bucket"],
        location["Key"],
        "written" if wrote else "already present",
        doc["status"],
    )
    return {"written": wrote, **location}


@app.on_cw_event(
    {"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE]}, name="on_task_finished"
)
def on_task_finished(event):
    try:
        location, doc = marker_from_task_event(event.detail)
    except InvalidEvent as exc:
        app.log.error("ignored event %s: %s", event.event_id, exc)
        return {"written": False, "ignored": str(exc)}
    return _write(location, doc)


_EXECUTION_PATTERN: dict = {
    "source": ["aws.states"],
    "detail-type": ["Step Functions Execution Status Change"],
    "detail": {"status": ["FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED"]},
}
if STATE_MACHINE_ARN:
    _EXECUTION_PATTERN["detail"]["stateMachineArn"] = [STATE_MACHINE_ARN]


@app.on_cw_event(_EXECUTION_PATTERN, name="on_execution_status")
def on_execution_status(event):
    try:
        found = marker_from_execution_event(event.detail)
    except InvalidEvent as exc:
        app.log.error("ignored event %s: %s", event.event_id, exc)
        return {"written": False, "ignored": str(exc)}
    if found is None:
        return {"written": False, "ignored": "not a terminal status"}
    return _write(*found)
