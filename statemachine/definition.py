"""The Amazon States Language document that runs one task on AWS Batch.

Built by a pure function so that the partition is an input (never a literal ``arn:aws``), and so
that tests can read it. Parameters are PascalCase, as Step Functions requires on AWS.

Flow, for the execution input the executor builds (see ``executor/workflow.py``)::

    FindJobDefinition   describeJobDefinitions(name, ACTIVE)   the name is a hash of its content,
      -> Choice           found? reuse it : RegisterJobDefinition   so any ACTIVE one is identical
    SubmitJob           batch:submitJob.sync with retry rules, attempt timeout, per-task overrides
    Outcome             (Pass) the outcome {Marker, Status: SUCCEEDED, Job}: the execution's output
    NotifySucceeded     events:putEvents "Task Finished" {ExecutionArn, **outcome}
    Catch (any state)   -> NotifyFailed {Status: FAILED, Marker, Error, Cause} -> Fail

A pack (the input has ``Manifest``) takes the same path with ``SubmitArrayJob`` (ArrayProperties
from the input), ``PackOutcome`` and ``NotifyPack*``, whose events also carry the manifest.

Every job's container announces its own electron as soon as its outcome is stored, with the same
"Task Finished" event (container/runner.py), usually before Step Functions has seen the job end.
The state machine's announcements stay for what the container could not report (killed, timed
out, never started): the first written marker wins. The pack's events let the Lambda record,
from Batch's list of children, the electrons whose child could not.

The Lambda writes the marker named in the event; Step Functions' own execution-status events
cover an execution that stops, times out or fails outside the Catch. The two events of one
execution race (two Lambda invocations), so each carries the same facts: a SUCCEEDED
execution's output is the outcome the "Task Finished" event announces, and a FAILED one ends in
the Fail state with the Catch's Error (prefixed, see FAILED_ERROR_PREFIX) and Cause. A failed
announcement does not change the outcome: it is caught, and the execution ends as the task did,
for its status event to report.
"""

from __future__ import annotations

from typing import Any

EVENT_SOURCE = "covalent.eventbatch"
EVENT_DETAIL_TYPE = "Task Finished"
# The fields of a "Task Finished" event's detail (the Lambda reads them: chalice_app/markers.py).
TASK_FINISHED_FIELDS = ("Marker", "ExecutionArn", "Status", "Job", "Error", "Cause", "Manifest")
# The states that submit the Batch job: an execution that has entered one is past the job
# definition's registration, which the executor's definition gate waits for (executor/workflow.py).
SUBMIT_JOB_STATE = "SubmitJob"
SUBMIT_ARRAY_JOB_STATE = "SubmitArrayJob"
SUBMIT_STATES = (SUBMIT_JOB_STATE, SUBMIT_ARRAY_JOB_STATE)
# A Fail state may not report an error name of the reserved "States." family (States Language:
# "States MAY report errors with other names, which MUST NOT begin with the prefix 'States.'"),
# yet the caught error is one (States.TaskFailed when the job failed): the execution's error is
# the caught one under this prefix, which the Lambda removes (chalice_app/markers.py).
FAILED_ERROR_PREFIX = "EventBatch."

# Batch's throttling and transient server errors, as Step Functions names them per integration.
_BATCH_TRANSIENT = [
    "Batch.TooManyRequestsException",
    "Batch.ServerException",
    "Batch.BatchException",
    "Batch.AWSBatchException",
]
_THROTTLE_RETRY = {
    "ErrorEquals": _BATCH_TRANSIENT,
    "IntervalSeconds": 2,
    "MaxAttempts": 6,
    "BackoffRate": 2.0,
    "MaxDelaySeconds": 60,
    "JitterStrategy": "FULL",
}
_EVENTS_RETRY = {
    "ErrorEquals": [
        "EventBridge.FailedEntry",
        "EventBridge.EventBridgeException",
        "States.TaskFailed",
    ],
    "IntervalSeconds": 1,
    "MaxAttempts": 5,
    "BackoffRate": 2.0,
    "JitterStrategy": "FULL",
}
# Any failure first goes through a Choice that sends a pack's to the pack's announcement, which
# carries the manifest the Lambda needs to record every electron of the pack.
_CATCH_ALL = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": "WhichFailed"}]


def _arn(partition: str, integration: str) -> str:
    return f"arn:{partition}:states:::{integration}"


def _notify(partition: str, detail: dict[str, Any], next_state: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": _arn(partition, "events:putEvents"),
        "Parameters": {
            "Entries": [
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": EVENT_DETAIL_TYPE,
                    "Detail": {
                        "Marker.$": "$.Marker",
                        "ExecutionArn.$": "$$.Execution.Id",
                        **detail,
                    },
                }
            ]
        },
        "Retry": [_EVENTS_RETRY],
        "ResultPath": None,
        # The announcement is best effort like the status event that backs it up: when it
        # fails for good, the execution still ends as the task did (the error goes aside).
        "Catch": [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.NotifyError", "Next": next_state}
        ],
        "Next": next_state,
    }


def _reuse(next_state: str) -> dict[str, Any]:
    return {
        "Type": "Pass",
        "Parameters": {"Arn.$": "States.ArrayGetItem($.Existing.Arns, 0)"},
        "ResultPath": "$.JobDefinitionRef",
        "Next": next_state,
    }


def _register(partition: str, next_state: str) -> dict[str, Any]:
    return {
        "Type": "Task",
        "Resource": _arn(partition, "aws-sdk:batch:registerJobDefinition"),
        "Parameters": {
            "JobDefinitionName.$": "$.JobDefinition.JobDefinitionName",
            "Type": "container",
            "PlatformCapabilities.$": "$.JobDefinition.PlatformCapabilities",
            "ContainerProperties.$": "$.JobDefinition.ContainerProperties",
            "Tags.$": "$.JobDefinition.Tags",
        },
        "ResultSelector": {"Arn.$": "$.JobDefinitionArn"},
        "ResultPath": "$.JobDefinitionRef",
        "Retry": [_THROTTLE_RETRY],
        "Catch": _CATCH_ALL,
        "Next": next_state,
    }


def _submit(partition: str, next_state: str, array: bool) -> dict[str, Any]:
    parameters = {
        "JobName.$": "$.Job.JobName",
        "JobQueue.$": "$.Job.JobQueue",
        "JobDefinition.$": "$.JobDefinitionRef.Arn",
        "ContainerOverrides.$": "$.Job.ContainerOverrides",
        "RetryStrategy.$": "$.Job.RetryStrategy",
        "Timeout.$": "$.Job.Timeout",
        "Tags.$": "$.Job.Tags",
    }
    if array:
        parameters["ArrayProperties.$"] = "$.Job.ArrayProperties"
    return {
        "Type": "Task",
        "Resource": _arn(partition, "batch:submitJob.sync"),
        "Parameters": parameters,
        "ResultPath": "$.JobResult",
        "Retry": [_THROTTLE_RETRY],
        "Catch": _CATCH_ALL,
        "Next": next_state,
    }


_IS_PACK = {"Variable": "$.Manifest", "IsPresent": True}
_DEFINITION_FOUND = {"Variable": "$.Existing.Count", "NumericGreaterThan": 0}
_FAILED = {"Status": "FAILED", "Error.$": "$.Error.Error", "Cause.$": "$.Error.Cause"}


def _outcome(next_state: str, **extra: str) -> dict[str, Any]:
    """The outcome, as the "Task Finished" event carries it and as the execution's output (what
    its SUCCEEDED status event and DescribeExecution report)."""
    return {
        "Type": "Pass",
        "Parameters": {
            "Marker.$": "$.Marker",
            "Status": "SUCCEEDED",
            "Job.$": "$.JobResult",
            **extra,
        },
        "Next": next_state,
    }


def build_definition(partition: str = "aws") -> dict[str, Any]:
    """The state machine definition for the given AWS partition (aws, aws-cn, aws-us-gov)."""
    return {
        "Comment": "Covalent electrons on AWS Batch: register or reuse the job definition, "
        "submit one job (or one array job for a pack of electrons) and wait, then announce "
        "the outcome on EventBridge.",
        "StartAt": "FindJobDefinition",
        "States": {
            "FindJobDefinition": {
                "Type": "Task",
                "Resource": _arn(partition, "aws-sdk:batch:describeJobDefinitions"),
                "Parameters": {
                    "JobDefinitionName.$": "$.JobDefinition.JobDefinitionName",
                    "Status": "ACTIVE",
                },
                "ResultSelector": {
                    "Count.$": "States.ArrayLength($.JobDefinitions)",
                    "Arns.$": "$.JobDefinitions[*].JobDefinitionArn",
                },
                "ResultPath": "$.Existing",
                "Retry": [_THROTTLE_RETRY],
                "Catch": _CATCH_ALL,
                "Next": "JobDefinitionExists",
            },
            # One choice routes both the job definition and the kind of job, so that a single
            # electron walks exactly the states it did before packs existed.
            "JobDefinitionExists": {
                "Type": "Choice",
                "Choices": [
                    {"And": [_IS_PACK, _DEFINITION_FOUND], "Next": "ReusePackJobDefinition"},
                    {**_DEFINITION_FOUND, "Next": "ReuseJobDefinition"},
                    {**_IS_PACK, "Next": "RegisterPackJobDefinition"},
                ],
                "Default": "RegisterJobDefinition",
            },
            "ReuseJobDefinition": _reuse(SUBMIT_JOB_STATE),
            "RegisterJobDefinition": _register(partition, SUBMIT_JOB_STATE),
            SUBMIT_JOB_STATE: _submit(partition, "Outcome", array=False),
            "Outcome": _outcome("NotifySucceeded"),
            "NotifySucceeded": _notify(
                partition, {"Status": "SUCCEEDED", "Job.$": "$.Job"}, next_state="Done"
            ),
            "Done": {"Type": "Succeed"},
            "WhichFailed": {
                "Type": "Choice",
                "Choices": [{**_IS_PACK, "Next": "NotifyPackFailed"}],
                "Default": "NotifyFailed",
            },
            "NotifyFailed": _notify(partition, _FAILED, next_state="Failed"),
            # A pack: one array job, child i running the manifest's electron i. Each child
            # announces its own electron; these announce the array job, and carry the manifest
            # so that the Lambda can record the electrons whose child could not.
            "ReusePackJobDefinition": _reuse(SUBMIT_ARRAY_JOB_STATE),
            "RegisterPackJobDefinition": _register(partition, SUBMIT_ARRAY_JOB_STATE),
            SUBMIT_ARRAY_JOB_STATE: _submit(partition, "PackOutcome", array=True),
            "PackOutcome": _outcome("NotifyPackSucceeded", **{"Manifest.$": "$.Manifest"}),
            "NotifyPackSucceeded": _notify(
                partition,
                {"Status": "SUCCEEDED", "Job.$": "$.Job", "Manifest.$": "$.Manifest"},
                next_state="Done",
            ),
            "NotifyPackFailed": _notify(
                partition, {**_FAILED, "Manifest.$": "$.Manifest"}, next_state="Failed"
            ),
            "Failed": {
                "Type": "Fail",
                "ErrorPath": f"States.Format('{FAILED_ERROR_PREFIX}{{}}', $.Error.Error)",
                "CausePath": "$.Error.Cause",
            },
        },
    }
