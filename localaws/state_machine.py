"""The local stack's state machine: created, or updated in place when its definition or role
changed (on AWS the control plane's CloudFormation stack owns it)."""

from __future__ import annotations

import json
from typing import Any

from covalent_eventbatch.executor import names
from covalent_eventbatch.executor.names import state_machine_arn
from covalent_eventbatch.statemachine.definition import build_definition


def ensure_state_machine(
    sfn: Any, name: str, role_arn: str, partition: str, region: str, account: str
) -> tuple[str, str]:
    """Return (arn, what was done): 'created', 'updated' or 'unchanged'."""
    definition = json.dumps(build_definition(partition), indent=2, sort_keys=True)
    arn = state_machine_arn(partition, region, account, name)
    try:
        current = sfn.describe_state_machine(stateMachineArn=arn)
    except sfn.exceptions.StateMachineDoesNotExist:
        created = sfn.create_state_machine(
            name=name,
            definition=definition,
            roleArn=role_arn,
            type="STANDARD",  # .sync integrations need a Standard workflow
            tags=[{"key": "application", "value": names.PRODUCT}],
        )
        return str(created["stateMachineArn"]), "created"
    if (
        json.loads(current["definition"]) == json.loads(definition)
        and current["roleArn"] == role_arn
    ):
        return arn, "unchanged"
    sfn.update_state_machine(stateMachineArn=arn, definition=definition, roleArn=role_arn)
    return arn, "updated"
