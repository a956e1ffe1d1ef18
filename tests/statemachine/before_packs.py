"""The state machine as deployed before packs: today's definition without its pack branch."""

from __future__ import annotations

import json
from typing import Any

from covalent_eventbatch.statemachine.definition import build_definition

_PACK_STATES = (
    "ReusePackJobDefinition",
    "RegisterPackJobDefinition",
    "SubmitArrayJob",
    "PackOutcome",
    "NotifyPackSucceeded",
    "NotifyPackFailed",
    "WhichFailed",
)


def definition_before_packs(partition: str = "aws") -> dict[str, Any]:
    definition = build_definition(partition)
    states = definition["States"]
    for name in _PACK_STATES:
        del states[name]
    choice = states["JobDefinitionExists"]
    choice["Choices"] = [c for c in choice["Choices"] if c["Next"] == "ReuseJobDefinition"]
    # Every Catch went to NotifyFailed before failures of packs were told apart.
    older: dict[str, Any] = json.loads(
        json.dumps(definition).replace("WhichFailed", "NotifyFailed")
    )
    return older
