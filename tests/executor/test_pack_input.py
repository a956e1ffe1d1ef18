"""What a pack sends: who may share it, its names, its manifest and its execution input."""

from __future__ import annotations

from typing import Any

import pytest

from covalent_eventbatch.executor import packs
from covalent_eventbatch.executor.layout import PackLocation, TaskLocation
from covalent_eventbatch.executor.names import execution_arn
from covalent_eventbatch.executor.packs import execution_input, manifest
from covalent_eventbatch.executor.preparation import Prepared
from covalent_eventbatch.executor.settings import ExecutorSettings

MACHINE = "arn:aws:states:us-east-1:123:stateMachine:covalent-eventbatch"
DISPATCH = "2f9c1a52-6c4e-4c8e-9a51-0d7a4f3e8b11"


def _member(clients: object = None, dispatch: str = DISPATCH, **settings: Any) -> Any:
    resolved = ExecutorSettings.resolve(settings)
    prepared = Prepared(MACHINE, {"JobDefinitionName": "covalent-batch-jobs-abc"})
    location = TaskLocation(resolved.s3_bucket_name, resolved.s3_prefix, dispatch, 4)
    return packs.Member(resolved, clients, prepared, location, 0.0)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "different",
    [
        {"vcpu": 4},
        {"memory": 8},
        {"num_gpus": 1},
        {"batch_queue": "other-queue"},
        {"time_limit": 900},
        {"retry_attempts": 1},
        {"retry_user_errors": True},
    ],
)
def test_settings_that_decide_the_job_never_share_a_pack(different: dict[str, Any]) -> None:
    assert packs.key(_member()) == packs.key(_member())
    assert packs.key(_member()) != packs.key(_member(**different))


def test_other_dispatches_and_settings_outside_the_job_do_not_split_or_join() -> None:
    assert packs.key(_member()) != packs.key(_member(dispatch="other"))
    # Awaiting and packing settings do not change the job: those electrons share.
    assert packs.key(_member()) == packs.key(_member(poll_freq=3, marker_interval=2, pack_window=1))


def test_pack_names_say_dispatch_and_node_range_within_aws_limits() -> None:
    pack = PackLocation("b", "covalent", DISPATCH, (7, 3, 41))
    assert pack.pack_id.startswith("3-41-")
    assert pack.execution_name == f"{DISPATCH}-nodes-{pack.pack_id}"
    assert len(pack.execution_name) <= 80
    assert pack.job_name == f"covalent-{DISPATCH}-nodes-{pack.pack_id}"
    assert pack.manifest_key == f"covalent/tasks/{DISPATCH}/packs/{pack.pack_id}.json"
    assert pack.marker_key == f"covalent/markers/{DISPATCH}/pack-{pack.pack_id}.json"
    # The same range with other nodes in it is another pack.
    assert PackLocation("b", "covalent", DISPATCH, (3, 40, 41)).pack_id != pack.pack_id


def test_manifest_maps_each_index_to_its_electron() -> None:
    settings = ExecutorSettings.resolve({"s3_bucket_name": "bkt"})
    members = [TaskLocation("bkt", "covalent", DISPATCH, n) for n in (5, 9)]
    arn = execution_arn(MACHINE, "x-nodes-5-9-abc")
    assert arn == "arn:aws:states:us-east-1:123:execution:covalent-eventbatch:x-nodes-5-9-abc"
    doc = manifest(settings, arn, members)
    assert doc["execution_arn"] == arn
    assert doc["report_failures_on_attempt"] == 1
    assert [t["node_id"] for t in doc["tasks"]] == [5, 9]
    assert doc["tasks"][1] == {
        "node_id": 9,
        "task_uri": f"s3://bkt/covalent/tasks/{DISPATCH}/9/",
        "marker": {"Bucket": "bkt", "Key": f"covalent/markers/{DISPATCH}/9.json"},
    }
    retried = ExecutorSettings.resolve({"retry_user_errors": True, "retry_attempts": 4})
    assert manifest(retried, arn, members)["report_failures_on_attempt"] == 4


def test_pack_input_submits_one_array_job_with_per_child_limits() -> None:
    settings = ExecutorSettings.resolve({"vcpu": 4, "time_limit": 120})
    pack = PackLocation("b", "covalent", DISPATCH, (3, 4, 5))
    payload = execution_input(settings, pack, {"JobDefinitionName": "d"})
    job = payload["Job"]
    assert job["ArrayProperties"] == {"Size": 3}
    assert job["Timeout"] == {"AttemptDurationSeconds": 120}
    assert {"Type": "VCPU", "Value": "4"} in job["ContainerOverrides"]["ResourceRequirements"]
    assert job["ContainerOverrides"]["Environment"] == [
        {"Name": "EVENTBATCH_MANIFEST_URI", "Value": f"s3://b/{pack.manifest_key}"}
    ]
    assert payload["Manifest"] == {"Bucket": "b", "Key": pack.manifest_key}
    assert payload["Marker"] == {"Bucket": "b", "Key": pack.marker_key}
    assert job["Tags"]["covalent-node-ids"] == "3-5"
