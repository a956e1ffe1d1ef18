"""The container entry point, run against moto's S3 with real cloudpickle payloads."""

from __future__ import annotations

import json
import sys

import boto3
import cloudpickle
import pytest

from covalent_eventbatch.container.runner import run_task

BUCKET = "runner-bucket"
TASK_DIR = "covalent/tasks/d/1/"


@pytest.fixture
def s3(moto_aws: None) -> object:
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET)
    return client


def _put_task(s3, function, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(
        Bucket=BUCKET,
        Key=TASK_DIR + "task.pkl",
        Body=cloudpickle.dumps((function, list(args), kwargs)),
    )


def _io(s3) -> dict:  # type: ignore[no-untyped-def]
    return json.loads(s3.get_object(Bucket=BUCKET, Key=TASK_DIR + "io.json")["Body"].read())


def _keys(s3) -> set[str]:  # type: ignore[no-untyped-def]
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def test_success_stores_result_and_streams(s3) -> None:  # type: ignore[no-untyped-def]
    def add(x: int, y: int = 0) -> int:
        print("adding", x, y)
        print("careful", file=sys.stderr)
        return x + y

    _put_task(s3, add, 2, y=3)
    assert run_task(s3, BUCKET, TASK_DIR) == 0
    outcome = cloudpickle.loads(
        s3.get_object(Bucket=BUCKET, Key=TASK_DIR + "result.pkl")["Body"].read()
    )
    assert outcome == {"result": 5, "stdout": "adding 2 3\n", "stderr": "careful\n"}
    io = _io(s3)
    assert io["stdout"] == "adding 2 3\n"
    assert io["stderr"] == "careful\n"
    assert io["exception"] is None and io["exit_status"] == 0


def test_exception_is_reported_with_traceback_and_exit_1(s3) -> None:  # type: ignore[no-untyped-def]
    def boom() -> None:
        print("about to fail")
        raise ValueError("bad input 42")

    _put_task(s3, boom)
    assert run_task(s3, BUCKET, TASK_DIR) == 1
    io = _io(s3)
    assert io["stdout"] == "about to fail\n"
    assert io["exception"]["type"] == "ValueError"
    assert io["exception"]["message"] == "bad input 42"
    assert "in boom" in io["exception"]["traceback"]
    assert TASK_DIR + "result.pkl" not in _keys(s3)


def test_sys_exit_code_becomes_the_exit_status(s3) -> None:  # type: ignore[no-untyped-def]
    def leave() -> None:
        sys.exit(3)

    _put_task(s3, leave)
    assert run_task(s3, BUCKET, TASK_DIR) == 3
    io = _io(s3)
    assert io["exit_status"] == 3
    assert io["exception"]["type"] == "SystemExit"


# --- a child of a pack's array job -----------------------------------------------------------

MANIFEST_KEY = "covalent/tasks/d/packs/1-2-abc.json"
EXECUTION = "arn:aws:states:us-east-1:1:execution:covalent-eventbatch:d-nodes-1-2-abc"


class _RecordedEvents:
    """Stands in for the EventBridge client: what the child announced."""

    def __init__(self) -> None:
        self.entries: list[dict] = []

    def put_events(self, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's name
        self.entries += Entries
        return {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]}


def _put_manifest(s3, tasks: int = 2) -> None:  # type: ignore[no-untyped-def]
    manifest = {
        "version": 1,
        "execution_arn": EXECUTION,
        "report_failures_on_attempt": 1,
        "resources": [{"Type": "VCPU", "Value": "2"}, {"Type": "MEMORY", "Value": "3072"}],
        "tasks": [
            {
                "node_id": 10 + i,
                "task_uri": f"s3://{BUCKET}/covalent/tasks/d/{10 + i}/",
                "marker": {"Bucket": BUCKET, "Key": f"covalent/markers/d/{10 + i}.json"},
            }
            for i in range(tasks)
        ],
    }
    s3.put_object(Bucket=BUCKET, Key=MANIFEST_KEY, Body=json.dumps(manifest).encode())


def _put_node_task(s3, node: int, function, *args) -> None:  # type: ignore[no-untyped-def]
    s3.put_object(
        Bucket=BUCKET,
        Key=f"covalent/tasks/d/{node}/task.pkl",
        Body=cloudpickle.dumps((function, list(args), {})),
    )


def test_child_runs_its_entry_and_announces_its_own_marker(s3, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from covalent_eventbatch.chalice_app.markers import marker_from_task_event
    from covalent_eventbatch.container.runner import run_array_child

    monkeypatch.setenv("AWS_BATCH_JOB_ID", "parent:1")
    _put_manifest(s3)
    _put_node_task(s3, 11, lambda x: x * 2, 21)
    events = _RecordedEvents()
    assert run_array_child(s3, events, f"s3://{BUCKET}/{MANIFEST_KEY}", "1") == 0
    outcome = cloudpickle.loads(
        s3.get_object(Bucket=BUCKET, Key="covalent/tasks/d/11/result.pkl")["Body"].read()
    )
    assert outcome["result"] == 42
    [entry] = events.entries
    assert (entry["Source"], entry["DetailType"]) == ("covalent.eventbatch", "Task Finished")
    # The Lambda turns it into node 11's marker, with this child's job id.
    location, doc = marker_from_task_event(json.loads(entry["Detail"]))
    assert location == {"Bucket": BUCKET, "Key": "covalent/markers/d/11.json"}
    assert (doc["status"], doc["job_id"], doc["exit_code"], doc["attempts"]) == (
        "SUCCEEDED",
        "parent:1",
        0,
        1,
    )
    assert doc["execution_arn"] == EXECUTION
    # Resource-seconds from the pack's requested resources and this attempt's running time.
    usage = doc["usage"]
    assert (usage["vcpu"], usage["memory_gib"]) == (2.0, 3.0)
    assert usage["vcpu_seconds"] == pytest.approx(2 * usage["seconds"])
    assert usage["gib_seconds"] == pytest.approx(3 * usage["seconds"])


def test_child_whose_task_raises_announces_the_failure(s3, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from covalent_eventbatch.chalice_app.markers import marker_from_task_event
    from covalent_eventbatch.container.runner import run_array_child

    monkeypatch.setenv("AWS_BATCH_JOB_ID", "parent:0")

    def boom() -> None:
        raise KeyError("nope")

    _put_manifest(s3)
    _put_node_task(s3, 10, boom)
    events = _RecordedEvents()
    assert run_array_child(s3, events, f"s3://{BUCKET}/{MANIFEST_KEY}", "0") == 1
    _, doc = marker_from_task_event(json.loads(events.entries[0]["Detail"]))
    assert (doc["status"], doc["job_id"], doc["exit_code"]) == ("FAILED", "parent:0", 1)


def test_a_failure_batch_may_retry_is_not_announced_before_the_last_attempt(
    s3, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from covalent_eventbatch.container.runner import should_report

    manifest = {"report_failures_on_attempt": 3}
    monkeypatch.setenv("AWS_BATCH_JOB_ATTEMPT", "2")
    assert should_report(manifest, 0) and not should_report(manifest, 1)
    monkeypatch.setenv("AWS_BATCH_JOB_ATTEMPT", "3")
    assert should_report(manifest, 1)


@pytest.mark.parametrize(
    ("index", "tasks", "expected"),
    [
        ("5", 2, "has no entry for array index 5 (2 entries)"),
        (None, 2, "AWS_BATCH_JOB_ARRAY_INDEX is None"),
        ("0", None, "cannot read manifest"),
    ],
)
def test_child_without_its_entry_fails_naming_the_manifest_key(  # type: ignore[no-untyped-def]
    s3, capsys, index, tasks, expected
) -> None:
    from covalent_eventbatch.container.runner import EXIT_NO_TASK, run_array_child

    if tasks is not None:
        _put_manifest(s3, tasks)
    events = _RecordedEvents()
    assert run_array_child(s3, events, f"s3://{BUCKET}/{MANIFEST_KEY}", index) == EXIT_NO_TASK
    err = capsys.readouterr().err
    assert expected in err
    assert f"s3://{BUCKET}/{MANIFEST_KEY}" in err
    assert events.entries == []


def test_runner_event_names_match_the_state_machine() -> None:
    from covalent_eventbatch.container import runner
    from covalent_eventbatch.statemachine.definition import EVENT_DETAIL_TYPE, EVENT_SOURCE

    assert (runner.EVENT_SOURCE, runner.EVENT_DETAIL_TYPE) == (EVENT_SOURCE, EVENT_DETAIL_TYPE)
