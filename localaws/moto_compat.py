"""Narrow compatibility patches for moto 5.2.5 (local stack only).

1. Step Functions parameters (moto issue 10076), below.
2. Batch array jobs (``apply_array_jobs``): moto creates the children of an array job but gives
   them no ``AWS_BATCH_JOB_ARRAY_INDEX`` and one shared container-overrides object whose
   environment list grows on every child's run (a child can read a sibling's
   ``AWS_BATCH_JOB_ID``); it never marks the parent FAILED when a child failed (so a
   ``batch:submitJob.sync`` state waits until its own timeout); and terminating the parent does
   not stop its children. On AWS, each child has its index and its own environment, the parent
   fails once every child ended and one of them failed, and TerminateJob on the parent ends the
   children (https://docs.aws.amazon.com/batch/latest/userguide/array_jobs.html).

The Step Functions patch:

moto issue 10076 (fix proposed in moto PR 10101): for Batch and the aws-sdk integrations, the
interpreter hands the state machine's PascalCase parameters straight to boto3, whose Batch API
is camelCase, and hands boto3's camelCase responses back to the state machine unchanged. On AWS,
Step Functions translates both ways, and its definitions must be PascalCase, so the definition
stays as AWS needs it and this patch teaches moto the translation: moto already has the
converters (``_to_boto_request`` / ``_from_boto_response``); this wires them, with botocore's
operation shapes, into the two hooks moto leaves empty.

Applied only to moto 5.2.5, the version it was written and tested against; the tests also check
that unpatched moto still has the bug, so that an upstream fix shows and this can go.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
from botocore import xform_name

PATCHED_MOTO_VERSION = "5.2.5"
_applied = False
_arrays_applied = False
ARRAY_INDEX_ENV = "AWS_BATCH_JOB_ARRAY_INDEX"


@functools.lru_cache(maxsize=64)
def _operation_model(service: str, snake_action: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    for name in model.operation_names:
        if xform_name(name) == snake_action:
            return model.operation_model(name)
    return None


def _operation_of(self: Any, boto_service_name: str | None, action: str | None) -> Any:
    return _operation_model(
        self._get_boto_service_name(boto_service_name), self._get_boto_service_action(action)
    )


def _normalise_parameters(
    self: Any,
    parameters: dict,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    operation = _operation_of(self, boto_service_name, service_action_name)
    if operation is not None and operation.input_shape is not None:
        self._to_boto_request(parameters, operation.input_shape)


def _normalise_response(
    self: Any,
    response: Any,
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    operation = _operation_of(self, boto_service_name, service_action_name)
    if operation is not None and operation.output_shape is not None:
        self._from_boto_response(response, operation.output_shape)


def apply() -> bool:
    """Patch moto's Batch and aws-sdk task services; False when moto is not the known version."""
    global _applied
    import moto
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
        state_task_service_batch,
    )

    if moto.__version__ != PATCHED_MOTO_VERSION:
        return False
    if not _applied:
        for cls in (
            state_task_service_aws_sdk.StateTaskServiceAwsSdk,
            state_task_service_batch.StateTaskServiceBatch,
        ):
            cls._normalise_parameters = _normalise_parameters  # type: ignore[method-assign]
            cls._normalise_response = _normalise_response  # type: ignore[method-assign]
        _applied = True
    return True


def _child_environment(self: Any, p: str, default: Any) -> Any:
    """moto's Job._get_container_property, with an environment of the job's own."""
    if p != "environment":
        return _original_get_container_property(self, p, default)
    assert self.job_definition.container_properties is not None
    env = [dict(e) for e in self.container_overrides.get("environment", default)]
    given = {e["name"] for e in env}
    env += [
        dict(e)
        for e in self.job_definition.container_properties.get("environment", default)
        if e["name"] not in given
    ]
    env.append({"name": "AWS_BATCH_JOB_ID", "value": self.job_id})
    index = self.array_properties.get("index")
    if isinstance(index, int):
        env.append({"name": ARRAY_INDEX_ENV, "value": str(index)})
    return env


def _describe_failing_parent(self: Any) -> dict:
    """moto's Job.describe; a parent whose children all ended, one of them FAILED, is FAILED."""
    import datetime

    from moto.batch.utils import JobStatus

    result = _original_describe(self)
    children = self._child_jobs
    if (
        children
        and not self.job_stopped
        and all(c.job_stopped for c in children)
        and any(c.status == JobStatus.FAILED for c in children)
    ):
        self.job_stopped = True
        self.job_stopped_at = datetime.datetime.now()
        self.status = JobStatus.FAILED
        result = _original_describe(self)
    return result


def _terminate_with_children(self: Any, job_id: str, reason: str) -> None:
    """moto's BatchBackend.terminate_job; terminating an array job ends its children too."""
    _original_terminate_job(self, job_id, reason)
    job = self.get_job_by_id(job_id)
    for child in (job._child_jobs or []) if job is not None else []:
        child.terminate(reason)


_original_get_container_property: Any = None
_original_describe: Any = None
_original_terminate_job: Any = None


def apply_array_jobs() -> bool:
    """Patch moto's Batch array jobs; False when moto is not the known version."""
    global _arrays_applied, _original_get_container_property, _original_describe
    global _original_terminate_job
    import moto
    from moto.batch import models

    if moto.__version__ != PATCHED_MOTO_VERSION:
        return False
    if not _arrays_applied:
        _original_get_container_property = models.Job._get_container_property
        _original_describe = models.Job.describe
        _original_terminate_job = models.BatchBackend.terminate_job
        models.Job._get_container_property = _child_environment  # type: ignore[method-assign]
        models.Job.describe = _describe_failing_parent  # type: ignore[method-assign]
        models.BatchBackend.terminate_job = _terminate_with_children  # type: ignore[method-assign]
        _arrays_applied = True
    return True
