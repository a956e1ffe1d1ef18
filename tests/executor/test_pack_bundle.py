"""A pack's small tasks travel as one object: its launch writes the bundle, the manifest gives each
member its byte range (moto's S3 in-process; the execution's start is recorded, not made)."""

from __future__ import annotations

import json
from typing import Any

import boto3
import cloudpickle
import pytest

from covalent_eventbatch.executor import packs, workflow
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.layout import PackLocation, TaskLocation
from covalent_eventbatch.executor.preparation import Prepared
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.executor.storage import BUNDLED_TASK_MAX_BYTES, PickledTask

BUCKET = "pack-bucket"
DISPATCH = "7a1e0c52-6c4e-4c8e-9a51-0d7a4f3e8b11"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:covalent-eventbatch"


def test_bundle_ranges_follow_the_members_in_order_skipping_those_on_their_own() -> None:
    bundle = packs.Bundle.of("s3://b/k", [b"abc", None, b"de", b"f"])
    assert bundle is not None
    assert bundle.ranges == [(0, 3), None, (3, 5), (5, 6)]
    assert packs.Bundle.of("s3://b/k", [None, None]) is None  # no bundle when none is small


def test_manifest_gives_bundled_entries_their_range_and_names_the_bundle() -> None:
    settings = ExecutorSettings.resolve({"s3_bucket_name": BUCKET})
    members = [TaskLocation(BUCKET, "covalent", DISPATCH, n) for n in (5, 9)]
    bundle = packs.Bundle.of("s3://pack-bucket/x.tasks", [None, b"pickle"])
    doc = packs.manifest(settings, "arn", members, None, bundle)
    assert doc["bundle"] == "s3://pack-bucket/x.tasks"
    assert "task_range" not in doc["tasks"][0]  # its own task.pkl, read as before
    assert doc["tasks"][1]["task_range"] == [0, 6]
    # result.pkl and io.json stay in each electron's own folder.
    assert doc["tasks"][1]["task_uri"] == f"s3://{BUCKET}/covalent/tasks/{DISPATCH}/9/"
    assert "bundle" not in packs.manifest(settings, "arn", members)


class _Started:
    """Stands in for StartExecution (and the wake-up queue): what launch started."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []

    def start(self, clients: Any, prepared: Any, name: str, payload: dict) -> Any:
        self.payloads.append(payload)
        return workflow.Execution(f"{MACHINE.replace('stateMachine', 'execution')}:{name}", name)


@pytest.fixture
def launching(moto_aws: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> Any:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    started = _Started()
    monkeypatch.setattr(packs.preparation, "start", started.start)

    class _Queue:
        def url(self) -> str | None:
            return None

    monkeypatch.setattr(packs.process.ProcessState, "wake_queue", lambda self, c: _Queue())
    settings = ExecutorSettings.resolve(
        {"s3_bucket_name": BUCKET, "region": "us-east-1", "cache_dir": str(tmp_path)}
    )
    clients = AwsClients(region="us-east-1")
    prepared = Prepared(MACHINE, {"JobDefinitionName": "covalent-batch-jobs-abc"})

    def member(node: int, task: bytes | None) -> packs.Member:
        location = TaskLocation(BUCKET, "covalent", DISPATCH, node)
        return packs.Member(settings, clients, prepared, location, 0.0, task)

    return started, member


def _keys() -> list[str]:
    listed = boto3.client("s3").list_objects_v2(Bucket=BUCKET)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def test_launch_writes_the_packs_tasks_as_one_object(launching: Any) -> None:
    started, member = launching
    tasks = {n: cloudpickle.dumps((abs, [-n], {})) for n in (3, 4, 6)}
    members = [member(n, tasks[n]) for n in (3, 4, 6)]
    placed = packs.launch(members)
    assert [p.index for p in placed if p is not None] == [0, 1, 2]
    pack = PackLocation(BUCKET, "covalent", DISPATCH, (3, 4, 6))
    # One object for the three tasks, and the manifest: no task.pkl anywhere.
    assert _keys() == sorted([pack.bundle_key, pack.manifest_key])
    s3 = boto3.client("s3")
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=pack.manifest_key)["Body"].read())
    assert manifest["bundle"] == f"s3://{BUCKET}/{pack.bundle_key}"
    for entry in manifest["tasks"]:
        start, end = entry["task_range"]
        ranged = s3.get_object(Bucket=BUCKET, Key=pack.bundle_key, Range=f"bytes={start}-{end - 1}")
        assert ranged["Body"].read() == tasks[entry["node_id"]]
    assert len(started.payloads) == 1


def test_a_launch_whose_bundle_cannot_be_written_starts_nothing(launching: Any) -> None:
    started, member = launching
    boto3.client("s3").delete_bucket(Bucket=BUCKET)
    with pytest.raises(Exception, match="NoSuchBucket"):
        packs.launch([member(1, b"one"), member(2, b"two")])
    assert started.payloads == []


def test_a_pack_of_one_is_left_to_upload_its_own_task(launching: Any) -> None:
    started, member = launching
    assert packs.launch([member(1, b"one")]) == [None]
    assert _keys() == [] and started.payloads == []


def test_a_pickled_task_is_kept_in_memory_only_while_small(tmp_path: Any) -> None:
    small = PickledTask((abs, [-1], {}), str(tmp_path))
    large = PickledTask((bytes, [b"x" * (BUNDLED_TASK_MAX_BYTES + 1)], {}), str(tmp_path))
    try:
        assert small.small and cloudpickle.loads(small.data()) == (abs, [-1], {})
        assert not large.small
    finally:
        small.close()
        large.close()
