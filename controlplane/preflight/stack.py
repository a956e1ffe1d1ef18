"""The stack as it stands: busy, failed in a way that needs a hand, or replaceable; what it owns."""

from __future__ import annotations

from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.awserrors import error_message

from .problems import Problem

# The stack states deploy replaces (they hold no resource) and those that need a person.
REPLACEABLE = {"ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"}
_STUCK = {
    "ROLLBACK_FAILED": "delete it (aws cloudformation delete-stack --stack-name {stack}; add "
    "--retain-resources for what it cannot delete) and deploy again",
    "DELETE_FAILED": "delete it again (aws cloudformation delete-stack --stack-name {stack}; add "
    "--retain-resources for what it cannot delete) and deploy again",
    "UPDATE_ROLLBACK_FAILED": "let CloudFormation finish the rollback (aws cloudformation "
    "continue-update-rollback --stack-name {stack}) and deploy again",
    "IMPORT_ROLLBACK_FAILED": "fix or delete it in the CloudFormation console and deploy again",
}


@dataclass
class StackState:
    """The stack as it stands: its status, parameters and the physical ids of its resources."""

    name: str
    status: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    owned: set[str] = field(default_factory=set)

    @property
    def updatable(self) -> bool:
        return self.status is not None and self.status not in REPLACEABLE

    def owns(self, name: str) -> bool:
        return name in self.owned

    def problems(self) -> list[Problem]:
        if self.status is None or self.status in REPLACEABLE:
            return []
        if self.status.endswith("_IN_PROGRESS"):
            return [
                Problem(
                    "--stack-name",
                    f"stack {self.name} is {self.status}; wait until it ends (aws cloudformation "
                    f"describe-stacks --stack-name {self.name}, or the console), then deploy "
                    "again",
                )
            ]
        if self.status in _STUCK:
            fix = _STUCK[self.status].format(stack=self.name)
            return [Problem("--stack-name", f"stack {self.name} is {self.status}: {fix}")]
        return []


def read_stack(clients: AwsClients, stack: str) -> StackState:
    cfn = clients.client("cloudformation")
    try:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in error_message(exc):
            return StackState(stack)
        raise
    state = StackState(
        stack,
        status=str(described["StackStatus"]),
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])
        },
    )
    if state.updatable:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for resource in page["StackResourceSummaries"]:
                physical = resource.get("PhysicalResourceId") or ""
                # A name, or an ARN ending in .../NAME or ...:NAME
                state.owned |= {physical, physical.rsplit("/", 1)[-1], physical.rsplit(":", 1)[-1]}
    return state
