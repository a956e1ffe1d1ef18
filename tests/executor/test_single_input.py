"""A single electron's execution input: what its container announces its electron with."""

from __future__ import annotations

import json
from typing import Any

import pytest

from covalent_eventbatch.container.runner import ANNOUNCE_ENV, TASK_URI_ENV
from covalent_eventbatch.executor import workflow
from covalent_eventbatch.executor.layout import TaskLocation
from covalent_eventbatch.executor.names import execution_arn
from covalent_eventbatch.executor.settings import ExecutorSettings

MACHINE = "arn:aws:states:us-east-1:123:stateMachine:covalent-eventbatch"
LOCATION = TaskLocation("bucket", "covalent", "d-1", 4)


class _Sfn:
    """Step Functions' StartExecution: names in ``taken`` exist already (with other input)."""

    class exceptions:  # noqa: N801 - boto3's spelling
        class StateMachineDoesNotExist(Exception):
            pass

        class ExecutionAlreadyExists(Exception):
            pass

    def __init__(self, *taken: str) -> None:
        self.taken = set(taken)
        self.inputs: dict[str, dict] = {}

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict:  # noqa: N803, A002 - boto3's names
        if name in self.taken:
            raise self.exceptions.ExecutionAlreadyExists(name)
        self.inputs[name] = json.loads(input)
        return {"executionArn": execution_arn(stateMachineArn, name)}


class _Clients:
    def __init__(self, sfn: _Sfn) -> None:
        self.sfn = sfn

    def client(self, name: str) -> _Sfn:
        assert name == "stepfunctions"
        return self.sfn


def _environment(payload: dict[str, Any]) -> dict[str, str]:
    variables = payload["Job"]["ContainerOverrides"]["Environment"]
    return {v["Name"]: v["Value"] for v in variables}


def _input(**settings: Any) -> dict[str, Any]:
    resolved = ExecutorSettings.resolve(settings)
    return workflow.execution_input(resolved, LOCATION, {"JobDefinitionName": "d"})


@pytest.mark.parametrize(
    ("settings", "final_attempt"),
    [({}, 1), ({"retry_attempts": 3}, 1), ({"retry_attempts": 3, "retry_user_errors": True}, 3)],
)
def test_the_container_gets_what_a_pack_child_gets_from_its_manifest(
    settings: dict[str, Any], final_attempt: int
) -> None:
    from covalent_eventbatch.executor import packs

    payload = _input(vcpu=2, **settings)
    environment = _environment(payload)
    assert environment[TASK_URI_ENV] == "s3://bucket/covalent/tasks/d-1/4/"
    announcement = json.loads(environment[ANNOUNCE_ENV])
    assert set(announcement) == set(workflow.ANNOUNCE_FIELDS)
    assert announcement["marker"] == payload["Marker"]
    assert announcement["report_failures_on_attempt"] == final_attempt
    # The same facts a pack's manifest gives each child, from the same settings.
    resolved = ExecutorSettings.resolve({"vcpu": 2, **settings})
    document = packs.manifest(resolved, "arn", [LOCATION])
    for field in ("report_failures_on_attempt", "resources"):
        assert announcement[field] == document[field]
    assert document["tasks"][0]["marker"] == {
        k: announcement["marker"][k] for k in ("Bucket", "Key")
    }
    # Compact: it travels in the job's overrides, in every DescribeJobs answer.
    assert " " not in environment[ANNOUNCE_ENV]


def test_the_job_definition_is_unchanged() -> None:
    settings = ExecutorSettings.resolve({})
    definition = workflow.job_definition(settings, "image", "aws", "123", "us-east-1")
    names = {v["Name"] for v in definition["ContainerProperties"]["Environment"]}
    assert ANNOUNCE_ENV not in names and TASK_URI_ENV not in names


def test_the_started_execution_is_the_one_announced_with_the_marker_whole() -> None:
    sfn = _Sfn()
    payload = _input()
    payload["Marker"]["Wake"] = "https://sqs.us-east-1.amazonaws.com/123/wake"  # added later
    started = workflow.start_execution(_Clients(sfn), MACHINE, LOCATION.execution_name, payload)  # type: ignore[arg-type]
    sent = sfn.inputs[started.name]
    announcement = json.loads(_environment(sent)[ANNOUNCE_ENV])
    assert announcement["execution_arn"] == started.arn
    # What the stack's task rule matches (ExecutionArn by prefix of this state machine).
    assert started.arn.startswith(MACHINE.replace(":stateMachine:", ":execution:") + ":")
    assert announcement["marker"] == sent["Marker"] == payload["Marker"]
    assert json.loads(_environment(payload)[ANNOUNCE_ENV])["execution_arn"] is None  # untouched


def test_a_renamed_execution_announces_under_its_new_name() -> None:
    sfn = _Sfn(LOCATION.execution_name)
    started = workflow.start_execution(_Clients(sfn), MACHINE, LOCATION.execution_name, _input())  # type: ignore[arg-type]
    assert started.name != LOCATION.execution_name
    announcement = json.loads(_environment(sfn.inputs[started.name])[ANNOUNCE_ENV])
    assert announcement["execution_arn"] == started.arn
    # The same input is renamed the same way: starting it again finds the same execution.
    again = workflow.start_execution(
        _Clients(_Sfn(LOCATION.execution_name)), MACHINE, LOCATION.execution_name, _input()
    )  # type: ignore[arg-type]
    assert again.name == started.name


def test_a_pack_input_is_started_as_it_is() -> None:
    from covalent_eventbatch.executor import packs
    from covalent_eventbatch.executor.layout import PackLocation

    settings = ExecutorSettings.resolve({})
    pack = PackLocation("bucket", "covalent", "d-1", (3, 4))
    payload = packs.execution_input(settings, pack, {"JobDefinitionName": "d"})
    sfn = _Sfn()
    started = workflow.start_execution(_Clients(sfn), MACHINE, pack.execution_name, payload)  # type: ignore[arg-type]
    assert sfn.inputs[started.name] == payload
