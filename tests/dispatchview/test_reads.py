"""Reading a dispatch from S3 and Step Functions (moto in-process), and every kind of bad input."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.stub import Stubber

from covalent_eventbatch.dispatchview.reads import (
    DispatchReader,
    DispatchViewError,
    UnknownDispatchError,
)
from covalent_eventbatch.dispatchview.rows import dispatch_status
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.statemachine.definition import build_definition

BUCKET = "view-bucket"
DISPATCH = "5f0c6a0e-1111-4222-8333-944445555666"


@pytest.fixture
def reader(moto_aws: None) -> DispatchReader:
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    boto3.client("stepfunctions").create_state_machine(
        name="covalent-eventbatch",
        definition=json.dumps(build_definition()),
        roleArn="arn:aws:iam::123456789012:role/sfn",
    )
    settings = ExecutorSettings(region="us-east-1", s3_bucket_name=BUCKET)
    return DispatchReader(settings, AwsClients(region="us-east-1"), DISPATCH)


def _put(key: str, body: bytes = b"x") -> None:
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=body)


def _start(reader: DispatchReader, node_id: int) -> str:
    return str(
        boto3.client("stepfunctions").start_execution(
            stateMachineArn=reader.state_machine_arn,
            name=reader.location(node_id).execution_name,
            input="{}",
        )["executionArn"]
    )


def test_each_electron_gets_the_stage_its_records_show(reader: DispatchReader) -> None:
    for node in (1, 2, 3):
        _put(f"covalent/tasks/{DISPATCH}/{node}/task.pkl")
    marker = {
        "status": "FAILED",
        "execution_arn": "arn:x",
        "job_id": None,
        "attempts": 2,
        "exit_code": 3,
        "reason": "Essential container in task exited",
        "usage": None,
    }
    _put(f"covalent/markers/{DISPATCH}/1.json", json.dumps(marker).encode())
    arn = _start(reader, 2)
    status = dispatch_status(reader.snapshot(), reader.settings)
    rows = {row.node_id: row for row in status.electrons}
    assert (rows[1].stage, rows[1].ended, rows[1].attempts, rows[1].exit_code) == (
        "failed",
        True,
        2,
        3,
    )
    assert rows[1].reason == "Essential container in task exited"
    assert (rows[2].stage, rows[2].ended, rows[2].execution_arn) == (
        "starting execution",
        False,
        arn,
    )
    assert rows[2].links["execution"].endswith(f"#/v2/executions/details/{arn}")
    assert (rows[3].stage, rows[3].execution_arn) == ("not started", None)
    assert not status.all_ended and status.total["ended"] == 1


def test_packed_electrons_are_found_through_their_packs_manifest(reader: DispatchReader) -> None:
    from covalent_eventbatch.executor.layout import PackLocation
    from covalent_eventbatch.executor.names import execution_arn

    for node in (4, 6, 8):
        _put(f"covalent/tasks/{DISPATCH}/{node}/task.pkl")
    pack = PackLocation(BUCKET, "covalent", DISPATCH, (4, 6))
    arn = execution_arn(reader.state_machine_arn, pack.execution_name)
    manifest = {"execution_arn": arn, "tasks": [{"node_id": 4}, {"node_id": 6}]}
    _put(pack.manifest_key, json.dumps(manifest).encode())
    started = boto3.client("stepfunctions").start_execution(
        stateMachineArn=reader.state_machine_arn, name=pack.execution_name, input="{}"
    )
    assert started["executionArn"] == arn
    rows = {
        row.node_id: row for row in dispatch_status(reader.snapshot(), reader.settings).electrons
    }
    assert rows[4].execution_arn == rows[6].execution_arn == arn  # one execution, two electrons
    assert rows[4].stage == rows[6].stage == "starting execution"  # no array job submitted yet
    assert (rows[8].stage, rows[8].execution_arn) == ("not started", None)  # not packed


def test_electrons_whose_tasks_went_in_their_packs_bundle_are_found_from_the_manifest(
    reader: DispatchReader,
) -> None:
    from covalent_eventbatch.executor.layout import PackLocation
    from covalent_eventbatch.executor.names import execution_arn

    # No folder of their own (no task.pkl, no outcome yet): only the manifest and the bundle.
    pack = PackLocation(BUCKET, "covalent", DISPATCH, (2, 3))
    arn = execution_arn(reader.state_machine_arn, pack.execution_name)
    manifest = {
        "execution_arn": arn,
        "bundle": f"s3://{BUCKET}/{pack.bundle_key}",
        "tasks": [{"node_id": 2, "task_range": [0, 1]}, {"node_id": 3, "task_range": [1, 2]}],
    }
    _put(pack.manifest_key, json.dumps(manifest).encode())
    _put(pack.bundle_key, b"ab")
    with pytest.raises(DispatchViewError, match=r"its electrons here: 2, 3\)"):
        reader.node(9)
    assert reader.node(3).execution_arn is None  # the manifest is written before the start
    boto3.client("stepfunctions").start_execution(
        stateMachineArn=reader.state_machine_arn, name=pack.execution_name, input="{}"
    )
    rows = {
        row.node_id: row for row in dispatch_status(reader.snapshot(), reader.settings).electrons
    }
    assert sorted(rows) == [2, 3]
    assert rows[2].execution_arn == rows[3].execution_arn == arn
    assert rows[3].stage == "starting execution"
    node = reader.node(2)
    assert (node.execution_arn, node.execution_status) == (arn, "RUNNING")


def test_an_unknown_dispatch_says_so(reader: DispatchReader) -> None:
    with pytest.raises(UnknownDispatchError, match=f"unknown dispatch {DISPATCH}: no electron"):
        reader.snapshot()


def test_a_cleaned_up_dispatch_says_so(reader: DispatchReader) -> None:
    _start(reader, 4)  # its execution remains, its objects were deleted
    with pytest.raises(DispatchViewError, match=f"dispatch {DISPATCH} was cleaned up"):
        reader.snapshot()
    with pytest.raises(DispatchViewError, match="was cleaned up"):
        reader.node(4)


def test_a_node_that_never_ran_here_says_so(reader: DispatchReader) -> None:
    _put(f"covalent/tasks/{DISPATCH}/1/task.pkl")
    with pytest.raises(
        DispatchViewError,
        match=rf"node 5 of dispatch {DISPATCH} never ran on "
        r"this executor \(its electrons here: 1\)",
    ):
        reader.node(5)
    assert reader.node(1).execution_status is None


def test_a_missing_read_permission_names_the_call_and_the_statement(
    reader: DispatchReader,
) -> None:
    s3 = reader.clients.client("s3")
    with Stubber(s3) as stub:
        stub.add_client_error("list_objects_v2", "AccessDenied", "Access Denied", 403)
        with pytest.raises(DispatchViewError) as raised:
            reader.snapshot()
    message = str(raised.value)
    assert message.startswith("missing read permission: ListObjectsV2 was denied")
    assert "DispatchStatus statement" in message and "\n" not in message
