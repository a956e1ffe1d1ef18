"""The container entry point, run against moto's S3 with real cloudpickle payloads."""

from __future__ import annotations

import json
import sys

import boto3
import cloudpickle
import pytest

from executor.runner import run_task

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
