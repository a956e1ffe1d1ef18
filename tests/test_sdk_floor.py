"""Every AWS operation and parameter the code passes exists in the oldest botocore it declares.

The code's boto3 calls are found in its source (a call or paginator whose name is an operation of a
service the project uses, with keywords that are that operation's parameters in today's botocore),
then looked up in the floor's service models (tests/sdkfloor.py), in a separate ``python -I -S``.
An operation or parameter added to botocore after the floor fails here: raise the floor in
pyproject.toml (with the reason) or do without it.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import botocore.model
import botocore.session
from botocore import xform_name

from tests.sdkfloor import ROOT, oldest_sdk

SERVICES = (
    "s3",
    "stepfunctions",
    "batch",
    "ecr",
    "events",
    "logs",
    "iam",
    "sts",
    "cloudformation",
    "sqs",
)
# Code that runs with the user's (or the Lambda runtime's) SDK; localaws/ runs in the dev venv.
SCANNED = (
    "executor",
    "container",
    "chalice_app",
    "controlplane",
    "statemachine",
    "covalent_eventbatch/cli.py",
)
# Parameters newer than the floor that the code sends another way.
SENT_OTHERWISE = {
    ("s3", "PutObject", "IfNoneMatch"): "chalice_app/markers.py sends it as the If-None-Match "
    "header (enable_conditional_put)",
}

_CHECK = """
import json, sys
sys.path.insert(0, {sdk!r})
import botocore, botocore.session
session = botocore.session.get_session()
missing = []
for where, candidates, keywords in json.load(sys.stdin):
    found = []
    for service, operation in candidates:
        model = session.get_service_model(service)
        if operation not in model.operation_names:
            continue
        members = model.operation_model(operation).input_shape
        members = set(members.members) if members is not None else set()
        found.append((service, operation, sorted(set(keywords) - members)))
    if not found:
        missing.append([where, [c[1] for c in candidates], "operation"])
    elif all(extra for _, _, extra in found):
        missing.append([where, found[0][1], found[0][2]])
print(json.dumps({{"botocore": botocore.__version__, "missing": missing}}))
"""


def _operations() -> dict[str, list[tuple[str, str]]]:
    by_method: dict[str, list[tuple[str, str]]] = {}
    for service in SERVICES:
        for operation in _model(service).operation_names:
            by_method.setdefault(xform_name(operation), []).append((service, operation))
    return by_method


@functools.cache
def _model(service: str) -> botocore.model.ServiceModel:
    return botocore.session.get_session().get_service_model(service)


def _input_members(service: str, operation: str) -> set[str]:
    shape = _model(service).operation_model(operation)
    return set(shape.input_shape.members) if shape.input_shape is not None else set()


def sdk_calls() -> list[tuple[str, list[tuple[str, str]], list[str]]]:
    """(file:line, [(service, Operation)], keywords) of each boto3 call in the scanned code."""
    operations = _operations()
    found = []
    for entry in SCANNED:
        path = ROOT / entry
        for source in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            for node in ast.walk(ast.parse(source.read_text(), str(source))):
                if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                    continue
                method = node.func.attr
                inner = node.func.value
                if (
                    method == "paginate"
                    and isinstance(inner, ast.Call)
                    and isinstance(inner.func, ast.Attribute)
                    and inner.func.attr == "get_paginator"
                    and isinstance(inner.args[0], ast.Constant)
                ):
                    method = str(inner.args[0].value)
                keywords = [k.arg for k in node.keywords if k.arg is not None]
                candidates = [
                    (service, operation)
                    for service, operation in operations.get(method, [])
                    if set(keywords) <= _input_members(service, operation)
                ]
                if candidates:
                    where = f"{source.relative_to(ROOT)}:{node.lineno}"
                    found.append((where, candidates, keywords))
    return found


def test_the_scan_finds_the_calls_that_matter() -> None:
    calls = {(where.split(":")[0], c[0][1]) for where, c, _ in sdk_calls()}
    for expected in {
        ("chalice_app/markers.py", "PutObject"),
        ("executor/workflow.py", "StartExecution"),
        ("executor/markers.py", "ListExecutions"),  # through a paginator
        ("executor/registry.py", "PutImage"),
        ("controlplane/deploy.py", "CreateStack"),
    }:
        assert expected in calls


def test_every_call_exists_in_the_oldest_declared_botocore(tmp_path: Path) -> None:
    sdk, _, botocore_floor = oldest_sdk()
    calls = [
        (where, candidates, [k for k in keywords if (*candidates[0], k) not in SENT_OTHERWISE])
        for where, candidates, keywords in sdk_calls()
    ]
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _CHECK.format(sdk=str(sdk))],
        input=json.dumps(calls),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["botocore"] == botocore_floor
    assert report["missing"] == [], f"newer than botocore {botocore_floor}: {report['missing']}"


def test_the_check_sees_a_parameter_newer_than_the_floor(tmp_path: Path) -> None:
    """Without the header route, PutObject's IfNoneMatch would be reported (botocore 1.35.2)."""
    sdk, _, _ = oldest_sdk()
    call = [("x.py:1", [("s3", "PutObject")], ["Bucket", "Key", "IfNoneMatch"])]
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _CHECK.format(sdk=str(sdk))],
        input=json.dumps(call),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert json.loads(done.stdout)["missing"] == [["x.py:1", "PutObject", ["IfNoneMatch"]]]


_FEATURES = """
import sys
sys.path.insert(0, {sdk!r})
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
# executor/aws.py and executor/storage.py: the session, client and transfer options they use.
assert boto3.session.Session(region_name="us-east-1").get_partition_for_region("cn-north-1")
Config(retries={{"max_attempts": 8, "mode": "standard"}}, max_pool_connections=64)
TransferConfig(multipart_threshold=1, multipart_chunksize=1, max_concurrency=4)
client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="a",
                      aws_secret_access_key="b")
assert callable(client.upload_file) and callable(client.download_file)
print("ok")
"""


def test_session_and_transfer_options_exist_in_the_oldest_declared_boto3(tmp_path: Path) -> None:
    sdk, _, _ = oldest_sdk()
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _FEATURES.format(sdk=str(sdk))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.stdout.strip() == "ok", done.stderr
