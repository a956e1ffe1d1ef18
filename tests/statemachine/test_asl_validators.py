"""The state machine definition checked by two States Language validators.

cfn-lint's schema (rule E3601) reads a state machine's ``Definition`` object, not the packaged
template's ``DefinitionString`` under Fn::Sub, so the definition is given to it in a template of
its own; asl-validator (npm, pinned in tools/validators) also checks transitions, reachability
and JSONPath expressions. Each validator is also shown a broken definition, which it must reject.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from covalent_eventbatch.statemachine.definition import build_definition
from tests import validator_tools

CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")


def _broken() -> dict[str, Any]:
    definition = copy.deepcopy(build_definition("aws"))
    first = definition["States"][definition["StartAt"]]
    first["Type"] = "Taks"
    return definition


def _dangling() -> dict[str, Any]:
    definition = copy.deepcopy(build_definition("aws"))
    definition["States"][definition["StartAt"]]["Next"] = "Nowhere"
    return definition


def _asl_validator(definition: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(definition))
    return subprocess.run(
        [validator_tools.asl_validator(), "--json-path", str(path)],
        capture_output=True,
        text=True,
    )


def _cfn_lint(definition: dict[str, Any], tmp_path: Path) -> list[dict[str, Any]]:
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "StateMachine": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {
                    "RoleArn": "arn:aws:iam::123456789012:role/states",
                    "Definition": definition,
                },
            }
        },
    }
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    done = subprocess.run([CFN_LINT, "--format", "json", str(path)], capture_output=True, text=True)
    return list(json.loads(done.stdout or "[]"))


def test_asl_validator_accepts_the_definition(tmp_path: Path) -> None:
    done = _asl_validator(build_definition("aws"), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("broken", [_broken, _dangling])
def test_asl_validator_rejects_a_broken_definition(broken, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    done = _asl_validator(broken(), tmp_path)
    assert done.returncode != 0
    assert "invalid" in done.stdout + done.stderr


def test_cfn_lint_state_machine_schema_accepts_the_definition(tmp_path: Path) -> None:
    assert _cfn_lint(build_definition("aws"), tmp_path) == []


def test_cfn_lint_state_machine_schema_rejects_a_broken_definition(tmp_path: Path) -> None:
    rules = {f["Rule"]["Id"] for f in _cfn_lint(_broken(), tmp_path)}
    assert "E3601" in rules
