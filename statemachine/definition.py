"""The Amazon States Language document that runs one task on AWS Batch.

Built by a pure function so that the partition is an input (never a literal ``arn:aws``), and so
that tests can read it. Parameters are PascalCase, as Step Functions requires on AWS.

Flow, for the execution input the executor builds (see ``executor/workflow.py``)::

    FindJobDefinition   describeJobDefinitions(name, ACTIVE)   the name is a hash of its content,
      -> Choice           found? reuse it : RegisterJobDefinition   so any ACTIVE one is identical
    SubmitJob           batch:submitJob.sync with retry rules, attempt timeout, per-task overrides
    NotifySucceeded     events:putEvents "Task Finished" {Status: SUCCEEDED, Marker, Job}
    Catch (any state)   -> NotifyFailed {Status: FAILED, Marker, Error, Cause} -> Fail

A pack (the input has ``Manifest``) takes the same path with ``SubmitArrayJob`` (ArrayProperties
from the input) and ``NotifyPack*``, whose events also carry the manifest. Each child announces
its own electron from the container; the pack's events let the Lambda record, from Batch's list
of children, the electrons whose child could not.

The Lambda writes the marker named in the event; Step Functions' own execution-status events
cover an execution that stops, times out or fails outside the Catch.
"""

from __future__ import annotations

from typing import Any

EVENT_SOURCE = "covalent.eventbatch"
EVENT_DETAIL_TYPE = "Task Finished"

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


def _arn(partition: str, integration: str) -> str:
    return f"arn:{partition}:states:::{integration}"


def _notify(partition: str, detail: dict[str, Any], next_state: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
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
    }
    if next_state:
        state["Next"] = next_state
    else:
        state["End"] = True
    return state


def _reuse(next_state: str) -> dict[str, Any]:
    return {
        "Type": "Pass",
        "Parameters": {"Arn.$": "States.ArrayGetItem($.Existing.Arns, 0)"},
        "ResultPath": "$.JobDefinitionRef",
        "Next": next_state,
    }


def _register(partition: str, next_state: str, catch_to: str) -> dict[str, Any]:
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
        "Catch": _catch(catch_to),
        "Next": next_state,
    }


def _submit(partition: str, next_state: str, catch_to: str, array: bool) -> dict[str, Any]:
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
        "Catch": _catch(catch_to),
        "Next": next_state,
    }


def _catch(next_state: str) -> list[dict[str, Any]]:
    return [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.Error", "Next": next_state}]


_IS_PACK = {"Variable": "$.Manifest", "IsPresent": True}
_DEFINITION_FOUND = {"Variable": "$.Existing.Count", "NumericGreaterThan": 0}
_SUCCEEDED = {"Status": "SUCCEEDED", "Job.$": "$.JobResult"}
_FAILED = {"Status": "FAILED", "Error.$": "$.Error.Error", "Cause.$": "$.Error.Cause"}


def build_definition(partition: str = "aws") -> dict[str, Any]:
    """The state machine definition for the given AWS partition (aws, aws-cn, aws-us-gov)."""
    pack = {"Manifest.$": "$.Manifest"}
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
                "Catch": _catch("NotifyFailed"),
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
            "ReuseJobDefinition": _reuse("SubmitJob"),
            "RegisterJobDefinition": _register(partition, "SubmitJob", "NotifyFailed"),
            "SubmitJob": _submit(partition, "NotifySucceeded", "NotifyFailed", array=False),
            "NotifySucceeded": _notify(partition, _SUCCEEDED, next_state=None),
            "NotifyFailed": _notify(partition, _FAILED, next_state="Failed"),
            # A pack: one array job, child i running the manifest's electron i. Each child
            # announces its own electron; these announce the array job, and carry the manifest
            # so that the Lambda can record the electrons whose child could not.
            "ReusePackJobDefinition": _reuse("SubmitArrayJob"),
            "RegisterPackJobDefinition": _register(partition, "SubmitArrayJob", "NotifyPackFailed"),
            "SubmitArrayJob": _submit(
                partition, "NotifyPackSucceeded", "NotifyPackFailed", array=True
            ),
            "NotifyPackSucceeded": _notify(partition, {**_SUCCEEDED, **pack}, next_state=None),
            "NotifyPackFailed": _notify(partition, {**_FAILED, **pack}, next_state="Failed"),
            "Failed": {
                "Type": "Fail",
                "ErrorPath": "$.Error.Error",
                "CausePath": "$.Error.Cause",
            },
        },
    }
