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


class _FlakyEvents:
    """EventBridge answering with the given outcomes in turn: a dict response or an exception."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls: list[list[dict]] = []

    def put_events(self, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's name
        self.calls.append(Entries)
        outcome = self.outcomes.pop(0) if len(self.outcomes) > 1 else self.outcomes[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[return-value]


_THROTTLED = {
    "FailedEntryCount": 1,
    "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}],
}
_TAKEN = {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}]}


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_failed_entries_and_failed_calls_are_sent_again() -> None:
    from covalent_eventbatch.container.runner import announce

    events = _FlakyEvents(_THROTTLED, ConnectionError("no route"), _TAKEN)
    clock = _Clock()
    assert announce(events, {"Detail": "{}"}, sleep=clock.sleep, clock=clock) is None
    assert len(events.calls) == 3
    assert all(call == [{"Detail": "{}"}] for call in events.calls)


def test_an_announcement_that_never_goes_through_gives_up_within_its_budget() -> None:
    from covalent_eventbatch.container.runner import announce

    events = _FlakyEvents(_THROTTLED)
    clock = _Clock()
    why = announce(events, {"Detail": "{}"}, budget_s=25, sleep=clock.sleep, clock=clock)
    assert why == "ThrottlingException: Rate exceeded"
    assert clock.now <= 25
    assert len(events.calls) >= 4  # retried, with backoff rather than at once
    assert max(clock.slept) <= 8


def test_the_events_client_bounds_each_call(moto_aws: None) -> None:
    from covalent_eventbatch.container.runner import events_client

    config = events_client().meta.config
    assert (config.connect_timeout, config.read_timeout) == (3, 5)
    assert config.retries["total_max_attempts"] == 1


def test_the_manifest_read_is_retried_after_slow_down(s3) -> None:  # type: ignore[no-untyped-def]
    from botocore.exceptions import ClientError

    from covalent_eventbatch.container.runner import read_manifest

    _put_manifest(s3)
    calls = []

    class _SlowS3:
        def get_object(self, **kwargs):  # type: ignore[no-untyped-def]
            calls.append(kwargs)
            if len(calls) < 3:
                raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "GetObject")
            return s3.get_object(**kwargs)

    manifest = read_manifest(_SlowS3(), BUCKET, MANIFEST_KEY, 0, sleep=lambda _: None)
    assert len(manifest["tasks"]) == 2 and len(calls) == 3


def test_a_missing_manifest_is_not_read_again(s3) -> None:  # type: ignore[no-untyped-def]
    from covalent_eventbatch.container.runner import NoTaskError, read_manifest

    slept: list[float] = []
    with pytest.raises(NoTaskError, match="cannot read manifest"):
        read_manifest(s3, BUCKET, "covalent/tasks/d/packs/none.json", 0, sleep=slept.append)
    assert slept == []
