"""The container entry point, run against moto's S3 with real cloudpickle payloads."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator

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


# --- a pack's small tasks in one object (the bundle) -----------------------------------------

BUNDLE_KEY = "covalent/tasks/d/packs/1-2-abc.tasks"


class _CountingS3:
    """The S3 client, recording each GetObject's arguments and each download."""

    def __init__(self, s3, slow_downs: int = 0) -> None:  # type: ignore[no-untyped-def]
        self.s3 = s3
        self.slow_downs = slow_downs
        self.gets: list[dict] = []
        self.downloads: list[str] = []

    def get_object(self, **kwargs):  # type: ignore[no-untyped-def]
        from botocore.exceptions import ClientError

        self.gets.append(kwargs)
        if self.slow_downs:
            self.slow_downs -= 1
            raise ClientError({"Error": {"Code": "SlowDown", "Message": "slow"}}, "GetObject")
        return self.s3.get_object(**kwargs)

    def download_file(self, bucket: str, key: str, path: str) -> None:
        self.downloads.append(key)
        self.s3.download_file(bucket, key, path)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.s3, name)


def _put_bundled_pack(s3) -> list[bytes]:  # type: ignore[no-untyped-def]
    """Nodes 10 and 12 in the bundle, node 11 (too large, say) in its own task.pkl: the manifest
    as the executor writes it."""
    from covalent_eventbatch.executor import packs
    from covalent_eventbatch.executor.layout import TaskLocation
    from covalent_eventbatch.executor.settings import ExecutorSettings

    tasks = [cloudpickle.dumps((lambda x: x * 10, [n], {})) for n in (10, 11, 12)]
    bundled = [tasks[0], None, tasks[2]]
    bundle = packs.Bundle.of(f"s3://{BUCKET}/{BUNDLE_KEY}", bundled)
    members = [TaskLocation(BUCKET, "covalent", "d", n) for n in (10, 11, 12)]
    document = packs.manifest(ExecutorSettings.resolve({}), EXECUTION, members, None, bundle)
    s3.put_object(Bucket=BUCKET, Key=MANIFEST_KEY, Body=json.dumps(document).encode())
    s3.put_object(Bucket=BUCKET, Key=BUNDLE_KEY, Body=tasks[0] + tasks[2])
    s3.put_object(Bucket=BUCKET, Key="covalent/tasks/d/11/task.pkl", Body=tasks[1])
    return tasks


def _result(s3, node: int) -> object:  # type: ignore[no-untyped-def]
    key = f"covalent/tasks/d/{node}/result.pkl"
    return cloudpickle.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())["result"]


def test_children_read_their_task_from_the_bundle_with_one_ranged_get(s3, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from covalent_eventbatch.container.runner import run_array_child

    tasks = _put_bundled_pack(s3)
    for index, node in enumerate((10, 11, 12)):
        counting = _CountingS3(s3)
        events = _RecordedEvents()
        assert run_array_child(counting, events, f"s3://{BUCKET}/{MANIFEST_KEY}", str(index)) == 0
        assert _result(s3, node) == node * 10  # stored in the electron's own folder
        assert len(events.entries) == 1
        reads = [g for g in counting.gets if g["Key"] != MANIFEST_KEY]
        if node == 11:  # no range: its own task.pkl, as before bundles
            assert (reads, counting.downloads) == ([], ["covalent/tasks/d/11/task.pkl"])
        else:
            start = 0 if node == 10 else len(tasks[0])
            end = start + len(tasks[index]) - 1
            assert reads == [{"Bucket": BUCKET, "Key": BUNDLE_KEY, "Range": f"bytes={start}-{end}"}]
            assert counting.downloads == []
    # A retried child (its next attempt) reads its range again.
    monkeypatch.setenv("AWS_BATCH_JOB_ATTEMPT", "2")
    s3.delete_object(Bucket=BUCKET, Key="covalent/tasks/d/12/result.pkl")
    assert run_array_child(s3, _RecordedEvents(), f"s3://{BUCKET}/{MANIFEST_KEY}", "2") == 0
    assert _result(s3, 12) == 120
    assert "covalent/tasks/d/12/task.pkl" not in _keys(s3)


def test_the_bundle_read_is_retried_after_slow_down(s3) -> None:  # type: ignore[no-untyped-def]
    from covalent_eventbatch.container.runner import read_bundled_task, read_manifest

    tasks = _put_bundled_pack(s3)
    manifest = read_manifest(s3, BUCKET, MANIFEST_KEY, 2)
    counting = _CountingS3(s3, slow_downs=2)
    body = read_bundled_task(counting, manifest, manifest["tasks"][2], sleep=lambda _: None)
    assert body == tasks[2] and len(counting.gets) == 3


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("truncate", "got "),
        ("delete", "NoSuchKey"),
        ("no bundle", "gives a task range but no s3:// bundle"),
    ],
)
def test_a_child_that_cannot_read_its_range_fails_naming_the_bundle(  # type: ignore[no-untyped-def]
    s3, capsys, change, expected
) -> None:
    from covalent_eventbatch.container.runner import EXIT_NO_TASK, run_array_child

    tasks = _put_bundled_pack(s3)
    if change == "truncate":
        s3.put_object(Bucket=BUCKET, Key=BUNDLE_KEY, Body=tasks[0] + tasks[2][:-5])
    elif change == "delete":
        s3.delete_object(Bucket=BUCKET, Key=BUNDLE_KEY)
    else:
        manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=MANIFEST_KEY)["Body"].read())
        del manifest["bundle"]
        s3.put_object(Bucket=BUCKET, Key=MANIFEST_KEY, Body=json.dumps(manifest).encode())
    events = _RecordedEvents()
    code = run_array_child(s3, events, f"s3://{BUCKET}/{MANIFEST_KEY}", "2")
    err = capsys.readouterr().err
    assert code == EXIT_NO_TASK, err
    assert expected in err
    if change != "no bundle":
        assert f"of bundle s3://{BUCKET}/{BUNDLE_KEY} for node 12" in err
    assert events.entries == []


# --- a single electron's job announces its own electron too ----------------------------------

SINGLE_EXECUTION = "arn:aws:states:us-east-1:1:execution:covalent-eventbatch:d-1"
# A key the executor may add to the execution input's Marker: it must reach the Lambda unchanged.
SINGLE_MARKER = {"Bucket": BUCKET, "Key": "covalent/markers/d/1.json", "Wake": "https://q/1"}


def _announcement(**changes: object) -> str:
    announcement = {
        "marker": SINGLE_MARKER,
        "execution_arn": SINGLE_EXECUTION,
        "report_failures_on_attempt": 1,
        "resources": [{"Type": "VCPU", "Value": "2"}, {"Type": "MEMORY", "Value": "4096"}],
        **changes,
    }
    return json.dumps(announcement, separators=(",", ":"))


class _EventsAfterResult(_RecordedEvents):
    """Records, with each event, whether the task's outcome was stored when it was sent."""

    def __init__(self, s3) -> None:  # type: ignore[no-untyped-def]
        super().__init__()
        self.s3 = s3
        self.stored_before: list[set[str]] = []

    def put_events(self, Entries: list[dict]) -> dict:  # noqa: N803 - boto3's name
        self.stored_before.append(_keys(self.s3))
        return super().put_events(Entries)


def test_single_electron_announces_once_its_result_is_stored(s3, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from chalice.test import Client

    import covalent_eventbatch.chalice_app.app as lambda_app
    from covalent_eventbatch.container.runner import run_single

    monkeypatch.setenv("AWS_BATCH_JOB_ID", "job-1")
    monkeypatch.delenv("AWS_BATCH_JOB_ATTEMPT", raising=False)
    _put_task(s3, lambda x: x + 1, 41)
    events = _EventsAfterResult(s3)
    assert run_single(s3, events, f"s3://{BUCKET}/{TASK_DIR}", _announcement()) == 0
    [entry] = events.entries
    assert {TASK_DIR + "result.pkl", TASK_DIR + "io.json"} <= events.stored_before[0]
    detail = json.loads(entry["Detail"])
    assert "Manifest" not in detail
    assert detail["Marker"] == SINGLE_MARKER  # whole, as the state machine passes it on

    # The deployed handler takes it as its own state machine's and writes the marker.
    monkeypatch.setenv(
        "EVENTBATCH_STATE_MACHINE_ARN",
        "arn:aws:states:us-east-1:1:stateMachine:covalent-eventbatch",
    )
    monkeypatch.setattr(lambda_app, "_s3", s3)
    with Client(lambda_app.app) as client:
        event = client.events.generate_cw_event(
            source=entry["Source"],
            detail_type=entry["DetailType"],
            resources=[],
            detail=detail,
        )
        written = client.lambda_.invoke("on_task_finished", event).payload
    assert written["written"] is True and "pack" not in written
    body = s3.get_object(Bucket=BUCKET, Key=SINGLE_MARKER["Key"])["Body"].read()
    marker = json.loads(body)
    assert (marker["status"], marker["source"], marker["execution_arn"]) == (
        "SUCCEEDED",
        "task-finished",
        SINGLE_EXECUTION,
    )
    assert (marker["job_id"], marker["job_status"], marker["attempts"], marker["exit_code"]) == (
        "job-1",
        "SUCCEEDED",
        1,
        0,
    )
    assert marker["started_at"] <= marker["stopped_at"]
    usage = marker["usage"]
    assert (usage["vcpu"], usage["memory_gib"]) == (2.0, 4.0)
    assert usage["vcpu_seconds"] == pytest.approx(2 * usage["seconds"])


def test_single_electron_failure_is_announced_on_its_last_attempt_only(s3, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from covalent_eventbatch.chalice_app.markers import marker_from_task_event
    from covalent_eventbatch.container.runner import run_single

    def boom() -> None:
        raise RuntimeError("again")

    monkeypatch.setenv("AWS_BATCH_JOB_ID", "job-2")
    _put_task(s3, boom)
    announcement = _announcement(report_failures_on_attempt=2)
    events = _RecordedEvents()
    monkeypatch.setenv("AWS_BATCH_JOB_ATTEMPT", "1")
    assert run_single(s3, events, f"s3://{BUCKET}/{TASK_DIR}", announcement) == 1
    assert events.entries == []  # Batch retries it: nothing to announce yet
    monkeypatch.setenv("AWS_BATCH_JOB_ATTEMPT", "2")
    assert run_single(s3, events, f"s3://{BUCKET}/{TASK_DIR}", announcement) == 1
    [entry] = events.entries
    _, doc = marker_from_task_event(json.loads(entry["Detail"]))
    assert (doc["status"], doc["job_id"], doc["exit_code"], doc["attempts"]) == (
        "FAILED",
        "job-2",
        1,
        2,
    )


@pytest.mark.parametrize("text", [None, "", "{not json", '{"marker": {"Bucket": "b"}}'])
def test_single_electron_without_an_announcement_only_stores_its_outcome(  # type: ignore[no-untyped-def]
    s3, capsys, text
) -> None:
    from covalent_eventbatch.container.runner import run_single

    _put_task(s3, lambda: 3)
    events = _RecordedEvents()
    assert run_single(s3, events, f"s3://{BUCKET}/{TASK_DIR}", text) == 0
    assert events.entries == []
    assert TASK_DIR + "result.pkl" in _keys(s3)
    # A job of an older executor has no announcement: nothing to say. A broken one is named.
    assert ("EVENTBATCH_ANNOUNCE" in capsys.readouterr().err) is bool(text)


def test_main_runs_a_single_electron_and_announces_it(s3, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from covalent_eventbatch.container import runner

    events = _RecordedEvents()
    monkeypatch.setattr(runner, "events_client", lambda: events)
    monkeypatch.delenv(runner.MANIFEST_URI_ENV, raising=False)
    monkeypatch.setenv(runner.TASK_URI_ENV, f"s3://{BUCKET}/{TASK_DIR}")
    monkeypatch.setenv(runner.ANNOUNCE_ENV, _announcement())
    _put_task(s3, lambda: 5)
    assert runner.main() == 0
    assert [json.loads(e["Detail"])["Status"] for e in events.entries] == ["SUCCEEDED"]


@pytest.fixture
def ecs_metadata(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """ECS's task metadata endpoint (version 4): the container document it serves."""
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    document: dict = {
        "Name": "default",
        "LogDriver": "awslogs",
        "LogOptions": {
            "awslogs-group": "/aws/batch/job",
            "awslogs-region": "us-east-1",
            "awslogs-stream": "covalent/default/8f03e41243824aea923aca126495f665",
        },
    }

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = json.dumps(document).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(
        "ECS_CONTAINER_METADATA_URI_V4", f"http://127.0.0.1:{server.server_port}/v4/c"
    )
    yield document
    server.shutdown()
    server.server_close()


def test_the_announced_attempt_names_its_log_stream_from_ecs_metadata(  # type: ignore[no-untyped-def]
    s3, monkeypatch, ecs_metadata
) -> None:
    from covalent_eventbatch.chalice_app.markers import marker_from_task_event
    from covalent_eventbatch.container.runner import log_stream, run_single

    def boom() -> None:
        raise ValueError("x")

    _put_task(s3, boom)
    events = _RecordedEvents()
    assert run_single(s3, events, f"s3://{BUCKET}/{TASK_DIR}", _announcement()) == 1
    _, doc = marker_from_task_event(json.loads(events.entries[0]["Detail"]))
    # What the failure message points the user to, as the state machine's event would.
    assert doc["log_stream"] == "covalent/default/8f03e41243824aea923aca126495f665"
    ecs_metadata["LogOptions"] = None
    assert log_stream() is None


def test_no_metadata_endpoint_means_no_log_stream(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import socket

    from covalent_eventbatch.container.runner import log_stream

    monkeypatch.delenv("ECS_CONTAINER_METADATA_URI_V4", raising=False)
    assert log_stream() is None
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    monkeypatch.setenv("ECS_CONTAINER_METADATA_URI_V4", f"http://127.0.0.1:{port}/v4/c")
    assert log_stream() is None
