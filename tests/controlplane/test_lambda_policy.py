"""``chalice deploy``'s policy file grants the Lambda what the stack's Lambda roles get, no more.

The stack's roles are held to their calls by the end-to-end tests; ``.chalice/policy-markers.json``
(used when ``chalice deploy`` deploys the Lambda alone) is a copy for default names, so it is
compared with the template here.
"""

from __future__ import annotations

import json
from pathlib import Path

from covalent_eventbatch.controlplane import template

ROOT = Path(__file__).resolve().parents[2]


def _statements(document: dict) -> dict[str, dict]:
    return {s["Sid"]: s for s in document["Statement"]}


def _listed(value: object) -> list:
    return [value] if isinstance(value, str) else list(value)  # type: ignore[arg-type]


def test_same_statements_and_actions_as_the_stack_gives_the_lambda():
    # chalice deploy gives both functions one policy: the execution-status function's, which
    # holds the task function's statements.
    chalice = _statements(json.loads((ROOT / ".chalice" / "policy-markers.json").read_text()))
    overrides = template.lambda_overrides()
    task = _statements(
        overrides[f"{template.TASK_FUNCTION}Role"]["Properties"]["Policies"][0]["PolicyDocument"]
    )
    role = overrides[f"{template.EXECUTION_FUNCTION}Role"]
    (policy,) = role["Properties"]["Policies"]
    stack = _statements(policy["PolicyDocument"])
    assert set(chalice) == set(stack)
    assert set(task) < set(stack)
    for sid, statement in stack.items():
        assert sorted(_listed(chalice[sid]["Action"])) == sorted(_listed(statement["Action"]))


def test_resources_are_the_marker_prefix_and_the_functions_own_logs():
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    chalice = _statements(json.loads((ROOT / ".chalice" / "policy-markers.json").read_text()))
    (markers,) = _listed(chalice["WriteCompletionMarkers"]["Resource"])
    assert markers.startswith("arn:*:s3:::") and markers.endswith("/covalent/markers/*")
    (logs,) = _listed(chalice["OwnLogs"]["Resource"])
    assert logs.endswith(f":log-group:/aws/lambda/{config['app_name']}-*")
