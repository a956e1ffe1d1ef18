"""A narrow compatibility patch for moto's Step Functions interpreter (local stack only).

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
