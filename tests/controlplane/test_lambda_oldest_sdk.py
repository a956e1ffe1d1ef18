"""The Lambda's code runs on the oldest boto3/botocore the project declares, against moto's S3.

The Lambda runs on whatever SDK its runtime bundles, and the executor on whatever satisfies
pyproject.toml, so both must work with the declared floor (tests/sdkfloor.py). The deployment.zip
is extracted and run in a separate ``python -I -S`` with only the zip and the floor SDK on its
path, on this Python and, when installed, on the Lambda runtimes' Pythons (3.12, 3.13). It
handles a "Task Finished" event (the marker is written), the same event again and a late
execution-status event (both find the marker taken and keep the first outcome), and a status
event of another task. The probe first checks that it really has the old SDK: PutObject's
IfNoneMatch parameter, newer than the floor, must fail there with ParamValidationError.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.sdkfloor import oldest_sdk

BUCKET = "markers-bucket"
MACHINE = "arn:aws:states:us-east-1:123456789012:stateMachine:ours"
EXECUTION = "arn:aws:states:us-east-1:123456789012:execution:ours:d-1-4"

_PROBE = """
import json, os, sys
sys.path[:0] = [{code!r}, {sdk!r}]
import boto3, botocore
from botocore.exceptions import ParamValidationError
report = {{"python": "%d.%d" % sys.version_info[:2], "boto3": boto3.__version__,
          "botocore": botocore.__version__, "botocore_from": botocore.__file__}}
raw = boto3.client("s3")
try:
    raw.put_object(Bucket={bucket!r}, Key="covalent/markers/probe.json", Body=b"{{}}",
                   IfNoneMatch="*")
    report["plain_if_none_match"] = "accepted"
except ParamValidationError:
    report["plain_if_none_match"] = "ParamValidationError"
import app
class Context:
    function_name, aws_request_id, memory_limit_in_mb = "f", "r", 128
    log_group_name, log_stream_name = "/aws/lambda/f", "s"
    def get_remaining_time_in_millis(self):
        return 30000
def event(source, detail_type, detail):
    return {{"version": "0", "id": "1", "detail-type": detail_type, "source": source,
            "account": "123456789012", "time": "2026-01-01T00:00:00Z", "region": "us-east-1",
            "resources": [], "detail": detail}}
marker = {{"Bucket": {bucket!r}, "Key": "covalent/markers/d-1/4.json"}}
task = event("covalent.eventbatch", "Task Finished", {{
    "ExecutionArn": {execution!r}, "Marker": marker, "Status": "SUCCEEDED",
    "Job": {{"JobId": "job-1", "Status": "SUCCEEDED",
            "Attempts": [{{"Container": {{"ExitCode": 0, "LogStreamName": "s/1"}}}}]}}}})
late = event("aws.states", "Step Functions Execution Status Change", {{
    "executionArn": {execution!r}, "stateMachineArn": {machine!r}, "status": "FAILED",
    "cause": "late", "input": json.dumps({{"Marker": marker}})}})
other = json.loads(json.dumps(late))
other["detail"]["input"] = json.dumps(
    {{"Marker": {{"Bucket": {bucket!r}, "Key": "covalent/markers/d-1/5.json"}}}})
report["first"] = app.on_task_finished(task, Context())
report["duplicate"] = app.on_task_finished(task, Context())
report["late"] = app.on_execution_status(late, Context())
report["other"] = app.on_execution_status(other, Context())
print(json.dumps(report))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _interpreter(minor: int) -> str | None:
    """A Python 3.<minor> on this machine (on PATH or installed with pyenv), or None."""
    candidates = [shutil.which(f"python3.{minor}")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True).stdout.strip()
        versions = subprocess.run([pyenv, "versions", "--bare"], capture_output=True, text=True)
        candidates += [
            f"{root}/versions/{v}/bin/python3.{minor}"
            for v in versions.stdout.split()
            if v.startswith(f"3.{minor}.")
        ]
    for exe in filter(None, candidates):
        if subprocess.run([exe, "-c", "pass"], capture_output=True).returncode == 0:
            return exe
    return None


@pytest.fixture(scope="module")
def s3_server() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def lambda_code(packaged, tmp_path_factory: pytest.TempPathFactory) -> Path:  # type: ignore[no-untyped-def]
    code = tmp_path_factory.mktemp("lambda-code")
    with zipfile.ZipFile(packaged.zip_path) as z:
        z.extractall(code)
    return code


@pytest.mark.parametrize("python", ["this", "3.12", "3.13"])
def test_lambda_code_runs_on_the_oldest_declared_sdk(
    python: str, s3_server: str, lambda_code: Path, tmp_path: Path
) -> None:
    exe = sys.executable if python == "this" else _interpreter(int(python.split(".")[1]))
    if exe is None:
        pytest.skip(f"no Python {python} on this machine")
    sdk, boto3_floor, botocore_floor = oldest_sdk()
    bucket = f"{BUCKET}-{python.replace('.', '-')}"
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.create_bucket(Bucket=bucket)
    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": s3_server,
        "EVENTBATCH_STATE_MACHINE_ARN": MACHINE,
    }
    probe = _PROBE.format(
        code=str(lambda_code), sdk=str(sdk), bucket=bucket, execution=EXECUTION, machine=MACHINE
    )
    done = subprocess.run(
        [exe, "-I", "-S", "-c", probe], capture_output=True, text=True, cwd=tmp_path, env=env
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert (report["boto3"], report["botocore"]) == (boto3_floor, botocore_floor)
    assert report["botocore_from"].startswith(str(sdk))
    # The probe runs the floor SDK: a feature newer than it fails there.
    assert report["plain_if_none_match"] == "ParamValidationError"
    key = "covalent/markers/d-1/4.json"
    assert report["first"] == {"written": True, "Bucket": bucket, "Key": key}
    assert report["duplicate"] == {"written": False, "Bucket": bucket, "Key": key}
    assert report["late"] == {"written": False, "Bucket": bucket, "Key": key}
    assert report["other"]["written"] is True
    marker = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    assert (marker["status"], marker["job_id"], marker["exit_code"]) == ("SUCCEEDED", "job-1", 0)
