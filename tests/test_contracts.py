"""What crosses between the parts, checked from both sides.

The Lambda (chalice_app/) and the container (container/runner.py) ship alone and cannot import
the part that defines a contract, so they repeat its names; these tests read what each side
writes and what the other side reads, and fail when one side changes alone.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import covalent_eventbatch
from covalent_eventbatch.chalice_app import markers as lambda_markers
from covalent_eventbatch.container import runner
from covalent_eventbatch.executor import packs, workflow
from covalent_eventbatch.executor.layout import PackLocation, TaskLocation
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.statemachine import definition

PRODUCT = Path(covalent_eventbatch.__file__).resolve().parent.parent


def _keys_read(paths: Iterable[str], names: set[str]) -> set[str]:
    """String keys read as NAME.get("k"), NAME["k"] or x.NAME.get("k") in these files."""

    def named(node: ast.AST) -> bool:
        return (isinstance(node, ast.Name) and node.id in names) or (
            isinstance(node, ast.Attribute) and node.attr in names
        )

    keys: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse((PRODUCT / path).read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and named(node.func.value)
                and node.args
                and isinstance(node.args[0], ast.Constant)
            ):
                keys.add(node.args[0].value)
            if (
                isinstance(node, ast.Subscript)
                and named(node.value)
                and isinstance(node.slice, ast.Constant)
            ):
                keys.add(node.slice.value)
    return keys


def _state_paths(node: Any) -> set[str]:
    """Every "$.x..." path a definition reads from its state (not from a task's raw result)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "ResultSelector":  # its paths are into the task's result
                found |= _state_paths(value)
    elif isinstance(node, list):
        for value in node:
            found |= _state_paths(value)
    elif isinstance(node, str) and "$." in node and "$$." not in node:
        found.add(node.split("$.", 1)[1].split(")")[0].split("[")[0])
    return found


def _inputs() -> list[dict[str, Any]]:
    settings = ExecutorSettings.resolve({})
    job = workflow.job_definition(settings, "image", "aws", "123", "us-east-1")
    single = workflow.execution_input(settings, TaskLocation("b", "p", "d", 3), job)
    pack = packs.execution_input(settings, PackLocation("b", "p", "d", (3, 4)), job)
    return [single, pack]


def test_the_definition_gate_waits_for_the_states_that_submit_the_job() -> None:
    states = definition.build_definition()["States"]
    for name in definition.SUBMIT_STATES:
        assert states[name]["Resource"].endswith(":batch:submitJob.sync")
    # Every path to a submission registers or reuses the job definition first.
    before = {s["Next"] for s in states.values() if s.get("Next") in definition.SUBMIT_STATES}
    assert before == set(definition.SUBMIT_STATES)
    assert workflow.SUBMIT_STATES is definition.SUBMIT_STATES


def test_task_finished_detail_is_what_the_state_machine_and_the_container_send() -> None:
    sent: set[str] = set()
    for state in definition.build_definition()["States"].values():
        for entry in state.get("Parameters", {}).get("Entries", []):
            assert (entry["Source"], entry["DetailType"]) == (
                definition.EVENT_SOURCE,
                definition.EVENT_DETAIL_TYPE,
            )
            sent.update(k.removesuffix(".$") for k in entry["Detail"])
    assert sent == set(definition.TASK_FINISHED_FIELDS)
    manifest = {"execution_arn": "arn", "resources": []}
    entry = {"marker": {"Bucket": "b", "Key": "k"}}
    for exit_status in (0, 1):
        event = runner.finished_event(manifest, entry, exit_status, 1, 2)
        assert (event["Source"], event["DetailType"]) == (
            definition.EVENT_SOURCE,
            definition.EVENT_DETAIL_TYPE,
        )
        assert set(json.loads(event["Detail"])) <= set(definition.TASK_FINISHED_FIELDS)


def test_the_lambda_reads_only_task_finished_fields_that_are_sent() -> None:
    read = _keys_read(
        ["chalice_app/markers.py", "chalice_app/packs.py", "chalice_app/app.py"], {"detail"}
    )
    # Step Functions' own status events spell their fields in camelCase; ours in PascalCase.
    ours = {k for k in read if k[:1].isupper()}
    # "Pending": what the Lambda adds when it hands a large failed pack on to itself.
    assert ours and ours <= set(definition.TASK_FINISHED_FIELDS) | {"Pending"}, ours


def test_execution_input_fields_are_the_ones_read() -> None:
    written = set().union(*(payload.keys() for payload in _inputs()))
    assert written == set(workflow.EXECUTION_INPUT_FIELDS)
    # The state machine's top-level paths into its state (its input, and the results it adds).
    added = {"Existing", "JobDefinitionRef", "JobResult", "Error", "NotifyError"}
    paths = {p.split(".")[0] for p in _state_paths(definition.build_definition())}
    assert paths - added <= written, paths - added - written
    assert _keys_read(["chalice_app/markers.py"], {"execution_input"}) <= written


def test_manifest_fields_are_the_ones_read() -> None:
    settings = ExecutorSettings.resolve({})
    # With a bundle (one member's task in it, the other's its own task.pkl): every field.
    bundle = packs.Bundle.of("s3://b/p/tasks/d/packs/3-4-x.tasks", [b"task", None])
    members = [TaskLocation("b", "p", "d", 3), TaskLocation("b", "p", "d", 4)]
    document = packs.manifest(settings, "arn", members, None, bundle)
    assert set(document) == set(packs.MANIFEST_FIELDS)
    assert all(set(entry) <= set(packs.MANIFEST_TASK_FIELDS) for entry in document["tasks"])
    read = _keys_read(["container/runner.py", "chalice_app/packs.py"], {"manifest", "entry"})
    assert "tasks" in read and "marker" in read
    assert read <= set(packs.MANIFEST_FIELDS) | set(packs.MANIFEST_TASK_FIELDS), read
    assert document["version"] == runner.MANIFEST_VERSION


def test_a_single_electrons_announcement_is_what_the_runner_reads() -> None:
    settings = ExecutorSettings.resolve({})
    payload = workflow.execution_input(settings, TaskLocation("b", "p", "d", 3), {})
    environment = payload["Job"]["ContainerOverrides"]["Environment"]
    announcement = json.loads({v["Name"]: v["Value"] for v in environment}[runner.ANNOUNCE_ENV])
    assert set(announcement) == set(workflow.ANNOUNCE_FIELDS)
    # The manifest's names for the same facts: the runner reads an announcement as a manifest
    # and its entry, and nothing else.
    manifest_names = set(packs.MANIFEST_FIELDS) | set(packs.MANIFEST_TASK_FIELDS)
    assert set(workflow.ANNOUNCE_FIELDS) <= manifest_names
    read = _keys_read(["container/runner.py"], {"manifest", "entry", "announcement"})
    assert read <= manifest_names, read - manifest_names
    announcement["execution_arn"] = "arn:aws:states:us-east-1:1:execution:covalent-eventbatch:d-3"
    event = runner.finished_event(announcement, announcement, 0, 1, 2)
    detail = json.loads(event["Detail"])
    assert detail["Marker"] == payload["Marker"]  # whole, as the state machine passes it on
    location, _ = lambda_markers.marker_from_task_event(detail)
    assert location == {"Bucket": "b", "Key": payload["Marker"]["Key"]}


def test_marker_fields_read_by_the_executor_and_the_status_view_are_written() -> None:
    written = set(lambda_markers.new_marker("SUCCEEDED", "test", "arn"))
    read = _keys_read(
        [
            "executor/outcome.py",
            "executor/awsbatch.py",
            "dispatchview/reads.py",
            "dispatchview/rows.py",
        ],
        {"marker"},
    )
    assert {"status", "job_id", "log_stream"} <= read
    assert read <= written, read - written


def test_the_wake_up_message_is_what_the_executor_reads() -> None:
    from covalent_eventbatch.chalice_app import wakeups as lambda_wakeups
    from covalent_eventbatch.executor import names, wakeups

    assert lambda_wakeups.WAKE_QUEUE_PREFIX == names.WAKE_QUEUE_PREFIX
    assert lambda_wakeups.MESSAGE_VERSION == wakeups.MESSAGE_VERSION
    url = f"https://sqs.us-east-1.amazonaws.com/1/{names.WAKE_QUEUE_PREFIX}7-ab"
    location = workflow.marker_location("b", "p/markers/d/1.json", url)
    # The marker location the executor writes is the one the Lambda reads and wakes.
    event = {"Marker": location, "Status": "SUCCEEDED", "ExecutionArn": "arn", "Job": {}}
    assert lambda_markers.marker_from_task_event(event)[0] == location
    doc = lambda_markers.new_marker("SUCCEEDED", "test", "arn")
    (body,) = lambda_wakeups.message_bodies(
        [{"Bucket": "b", "Key": location["Key"], "Marker": doc}]
    )
    assert wakeups.parse(body) == [wakeups.Wakeup("b", location["Key"], doc)]
    assert lambda_wakeups.wake_url(location) == url
