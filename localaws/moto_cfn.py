"""Let CloudFormation's state machines run on the local stack's moto (local stack only).

moto keeps two Step Functions backends: the API uses the one that executes state machines when
execution is enabled (as on the local stack), but moto's CloudFormation always creates state
machines in the other, so a stack's state machine cannot be described or started. This sends
CloudFormation's create, update and delete of AWS::StepFunctions::StateMachine to the backend the
API uses. Applied only to moto 5.2.5, like ``moto_compat``.

Also: for a repository without a RepositoryName, moto's CloudFormation generates a name with
capitals (STACK-Repository-RANDOM), which ECR's CreateRepository refuses on AWS (lowercase only)
and Docker cannot push to; CloudFormation on AWS generates a valid one. Generated repository
names are lowercased here, as moto already does for buckets.
"""

from __future__ import annotations

from typing import Any

from .moto_compat import PATCHED_MOTO_VERSION

_applied = False


def apply() -> bool:
    """Route CloudFormation's state machines to the executing backend; False on another moto."""
    global _applied
    import moto
    from moto.cloudformation import parsing
    from moto.stepfunctions import models
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    if moto.__version__ != PATCHED_MOTO_VERSION:
        return False
    if _applied:
        return True

    # The three CloudFormation hooks read the module-level name; rebinding it inside them only.
    for hook in ("create", "update", "delete"):
        method = getattr(models.StateMachine, f"{hook}_from_cloudformation_json").__func__
        patched = _with_backends(method, stepfunctions_parser_backends)
        setattr(models.StateMachine, f"{hook}_from_cloudformation_json", classmethod(patched))
    parsing.generate_resource_name = _lowercase_repositories(parsing.generate_resource_name)
    _applied = True
    return True


def _with_backends(method: Any, backends: Any) -> Any:
    import types

    globals_ = dict(method.__globals__, stepfunctions_backends=backends)
    return types.FunctionType(
        method.__code__, globals_, method.__name__, method.__defaults__, method.__closure__
    )


def _lowercase_repositories(generate: Any) -> Any:
    def generate_resource_name(resource_type: str, stack_name: str, logical_id: str) -> str:
        name = str(generate(resource_type, stack_name, logical_id))
        return name.lower() if resource_type == "AWS::ECR::Repository" else name

    return generate_resource_name
