"""The state machine document: its shape, a golden copy, and a contract with the AWS APIs.

The contract test resolves every parameter each Task state sends (static, or taken from the
execution input the executor builds) and checks it against botocore's model of that API, so a
misspelt or misplaced key fails here rather than in Step Functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.model import ListShape, MapShape, Shape, StructureShape

from covalent_eventbatch.executor import packs
from covalent_eventbatch.executor.layout import PackLocation, TaskLocation
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.executor.workflow import execution_input, job_definition
from covalent_eventbatch.statemachine.definition import build_definition

GOLDEN = Path(__file__).with_name("golden_definition.json")
_OPERATIONS = {
    "aws-sdk:batch:describeJobDefinitions": ("batch", "DescribeJobDefinitions"),
    "aws-sdk:batch:registerJobDefinition": ("batch", "RegisterJobDefinition"),
    "batch:submitJob.sync": ("batch", "SubmitJob"),
    "events:putEvents": ("events", "PutEvents"),
}


_PACK_STATES = {
    "ReusePackJobDefinition",
    "RegisterPackJobDefinition",
    "SubmitArrayJob",
    "NotifyPackSucceeded",
    "NotifyPackFailed",
}


def _sample_input(pack: bool = False, **overrides: Any) -> dict[str, Any]:
    settings = ExecutorSettings.resolve({"num_gpus": 1, **overrides})
    definition = job_definition(
        settings, "123.dkr.ecr.us-east-1.amazonaws.com/r:t", "aws", "123", "us-east-1"
    )
    if pack:
        location = PackLocation("bucket", "covalent", "d-1", (3, 4, 9))
        return packs.execution_input(settings, location, definition)
    return execution_input(settings, TaskLocation("bucket", "covalent", "d-1", 3), definition)


def _resolve(path: str, document: dict[str, Any]) -> Any:
    value: Any = document
    for part in path.removeprefix("$.").split("."):
        value = value[part]
    return value


def _member(shape: StructureShape, key: str) -> Shape:
    for name in (key, key[:1].lower() + key[1:]):
        if name in shape.members:
            return shape.members[name]
    raise AssertionError(f"{key!r} is not a member of {shape.name}: {sorted(shape.members)}")


def _check(value: Any, shape: Shape, where: str) -> None:
    if isinstance(shape, StructureShape):
        assert isinstance(value, dict), f"{where}: expected an object"
        for key, item in value.items():
            _check(item, _member(shape, key), f"{where}.{key}")
    elif isinstance(shape, ListShape):
        assert isinstance(value, list), f"{where}: expected a list"
        for i, item in enumerate(value):
            _check(item, shape.member, f"{where}[{i}]")
    elif isinstance(shape, MapShape):
        assert isinstance(value, dict), f"{where}: expected a map"
    elif shape.type_name == "integer":
        assert isinstance(value, int), f"{where}: expected an integer"
    elif shape.type_name == "string":
        # Step Functions stringifies a JSON object given for a string (putEvents' Detail).
        assert isinstance(value, (str, dict)), f"{where}: expected a string"


def _parameters(task: dict[str, Any], execution: dict[str, Any]) -> dict[str, Any]:
    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, item in node.items():
                if key.endswith(".$"):
                    if item.startswith("$$.") or item.startswith("States."):
                        out[key[:-2]] = "context-value"
                    elif item.startswith("$.Error") or item.startswith("$.JobResult"):
                        out[key[:-2]] = "runtime-value"
                    elif item.startswith("$.JobDefinitionRef"):
                        out[key[:-2]] = "arn:aws:batch:us-east-1:123:job-definition/x:1"
                    else:
                        out[key[:-2]] = _resolve(item, execution)
                else:
                    out[key] = resolve(item)
            return out
        if isinstance(node, list):
            return [resolve(i) for i in node]
        return node

    return dict(resolve(task["Parameters"]))


@pytest.mark.parametrize(
    "overrides", [{}, {"platform": "FARGATE", "num_gpus": 0, "vcpu": 0.5, "memory": 1}]
)
@pytest.mark.parametrize("pack", [False, True], ids=["single", "pack"])
def test_every_parameter_exists_in_the_aws_api(overrides: dict[str, Any], pack: bool) -> None:
    execution = _sample_input(pack, **overrides)
    session = botocore.session.get_session()
    definition = build_definition("aws")
    checked = 0
    for name, state in definition["States"].items():
        if (
            state["Type"] != "Task"
            or (name in _PACK_STATES) != pack
            and name != ("FindJobDefinition")
        ):
            continue
        integration = state["Resource"].split(":::", 1)[1]
        service, operation = _OPERATIONS[integration]
        shape = session.get_service_model(service).operation_model(operation).input_shape
        state_input = execution
        if name in ("NotifySucceeded", "NotifyPackSucceeded"):
            # Its input is the outcome that the Outcome (PackOutcome) state built.
            state_input = {"Marker": execution["Marker"], "Status": "SUCCEEDED", "Job": {}}
            if pack:
                state_input["Manifest"] = execution["Manifest"]
        params = _parameters(state, state_input)
        for key, value in params.items():
            _check(value, _member(shape, key), f"{name}.{key}")
        for required in shape.required_members:
            assert any(k[:1].lower() + k[1:] == required or k == required for k in params), (
                f"{name} misses required {required}"
            )
        checked += 1
    assert checked == 5  # FindJobDefinition, Register, Submit and both announcements


def test_partition_is_an_input() -> None:
    text = json.dumps(build_definition("aws-cn"))
    assert "arn:aws-cn:states:::batch:submitJob.sync" in text
    assert "arn:aws:" not in text


def test_every_path_ends_in_an_announcement() -> None:
    states = build_definition()["States"]
    for name in (
        "FindJobDefinition",
        "RegisterJobDefinition",
        "SubmitJob",
        "RegisterPackJobDefinition",
        "SubmitArrayJob",
    ):
        assert states[name]["Catch"][0]["Next"] == "WhichFailed"
        assert states[name]["Catch"][0]["ErrorEquals"] == ["States.ALL"]
    assert states["SubmitJob"]["Next"] == "Outcome"
    assert states["Outcome"]["Next"] == "NotifySucceeded"
    assert states["NotifySucceeded"]["Next"] == "Done"
    assert states["Done"]["Type"] == "Succeed"
    assert states["NotifyFailed"]["Next"] == "Failed"
    # A failed announcement is caught and the execution ends as the task did.
    for name, end in (("NotifySucceeded", "Done"), ("NotifyFailed", "Failed")):
        assert states[name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.NotifyError", "Next": end}
        ]
    assert states["SubmitArrayJob"]["Next"] == "PackOutcome"
    assert states["PackOutcome"]["Next"] == "NotifyPackSucceeded"
    assert states["NotifyPackSucceeded"]["Next"] == "Done"
    assert states["NotifyPackFailed"]["Next"] == "Failed"
    # Every failure, a pack's included, goes through the choice that routes a pack's to the
    # announcement carrying its manifest.
    assert states["WhichFailed"]["Choices"] == [
        {"Variable": "$.Manifest", "IsPresent": True, "Next": "NotifyPackFailed"}
    ]
    assert states["WhichFailed"]["Default"] == "NotifyFailed"
    assert states["Failed"]["Type"] == "Fail"
    retry = states["SubmitJob"]["Retry"][0]
    assert "Batch.TooManyRequestsException" in retry["ErrorEquals"]
    assert retry["JitterStrategy"] == "FULL" and retry["BackoffRate"] > 1


def test_definition_matches_the_golden_copy() -> None:
    """A change to the document is a change to review: regenerate the golden file on purpose."""
    assert build_definition("aws") == json.loads(GOLDEN.read_text())


def _walk(states: dict[str, Any], execution: dict[str, Any], found: int) -> list[str]:
    """The states a successful run visits, choosing as the Choice rules say."""
    path, name = [], "FindJobDefinition"
    while name:
        path.append(name)
        state = states[name]
        if state["Type"] == "Choice":
            name = state["Default"]
            for rule in state["Choices"]:
                rules = rule.get("And", [rule])
                if all(_holds(r, execution, found) for r in rules):
                    name = rule["Next"]
                    break
        else:
            name = state.get("Next")
    return path


def _holds(rule: dict[str, Any], execution: dict[str, Any], found: int) -> bool:
    if rule["Variable"] == "$.Existing.Count":
        return found > rule["NumericGreaterThan"]
    assert rule["Variable"] == "$.Manifest" and rule["IsPresent"] is True
    return "Manifest" in execution


@pytest.mark.parametrize("found", [0, 1])
def test_a_single_electron_walks_the_same_states_and_a_pack_its_own(found: int) -> None:
    states = build_definition()["States"]
    single = _walk(states, _sample_input(), found)
    reuse_or_register = "ReuseJobDefinition" if found else "RegisterJobDefinition"
    assert single == [
        "FindJobDefinition",
        "JobDefinitionExists",
        reuse_or_register,
        "SubmitJob",
        "Outcome",
        "NotifySucceeded",
        "Done",
    ]
    pack = _walk(states, _sample_input(pack=True), found)
    assert pack == [
        "FindJobDefinition",
        "JobDefinitionExists",
        reuse_or_register.replace("JobDefinition", "PackJobDefinition"),
        "SubmitArrayJob",
        "PackOutcome",
        "NotifyPackSucceeded",
        "Done",
    ]
    assert states["SubmitArrayJob"]["Parameters"]["ArrayProperties.$"] == "$.Job.ArrayProperties"
    assert "ArrayProperties.$" not in states["SubmitJob"]["Parameters"]
