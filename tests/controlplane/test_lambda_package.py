"""The Lambda's deployment.zip imports and runs its handlers with only what Lambda provides.

The zip is extracted into a folder, and a second folder holds only the packages the Lambda Python
runtime ships (boto3 and its dependencies); a separate interpreter started with -I -S (no site
packages, no environment) sees those two folders and the standard library, nothing else.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import zipfile
from pathlib import Path

# What the Lambda Python runtime has besides the standard library.
LAMBDA_RUNTIME_PACKAGES = (
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "urllib3",
    "six",
)

_PROBE = """
import json, sys
sys.path[:0] = [{code!r}, {runtime!r}]
import app
for name in ("covalent_eventbatch", "executor", "covalent", "cloudpickle", "moto"):
    try:
        __import__(name)
        raise SystemExit(name + " is importable: the interpreter is not clean")
    except ImportError:
        pass
class Context:
    function_name, aws_request_id, memory_limit_in_mb = "f", "r", 128
    log_group_name, log_stream_name = "/aws/lambda/f", "s"
    def get_remaining_time_in_millis(self):
        return 30000
import os
os.environ["EVENTBATCH_STATE_MACHINE_ARN"] = "arn:aws:states:us-east-1:1:stateMachine:ours"
other = "arn:aws:states:us-east-1:1:stateMachine:theirs"
status = {{"version": "0", "id": "1", "detail-type": "Step Functions Execution Status Change",
    "source": "aws.states", "account": "1", "time": "2024-01-01T00:00:00Z",
    "region": "us-east-1", "resources": [],
    "detail": {{"stateMachineArn": other, "status": "FAILED", "input": "{{}}"}}}}
task = dict(status, source="covalent.eventbatch", **{{"detail-type": "Task Finished"}})
task["detail"] = {{"ExecutionArn": "arn:aws:states:us-east-1:1:execution:theirs:x"}}
print(json.dumps({{
    "modules": sorted(m for m in ("chalice", "chalice_app", "boto3") if m in sys.modules),
    "chalice_from": sys.modules["chalice"].__file__,
    "status": app.on_execution_status(status, Context()),
    "task": app.on_task_finished(task, Context()),
}}))
"""


def _runtime_dir(target: Path) -> Path:
    target.mkdir()
    for name in LAMBDA_RUNTIME_PACKAGES:
        spec = importlib.util.find_spec(name)
        assert spec is not None and spec.origin, name
        source = Path(spec.origin)
        source = source.parent if source.name == "__init__.py" else source
        (target / source.name).symlink_to(source)
    return target


def test_zip_imports_its_handlers_with_only_the_lambda_runtime(packaged, tmp_path):
    code = tmp_path / "code"
    with zipfile.ZipFile(packaged.zip_path) as z:
        z.extractall(code)
    runtime = _runtime_dir(tmp_path / "runtime")
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", _PROBE.format(code=str(code), runtime=str(runtime))],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found["modules"] == ["boto3", "chalice", "chalice_app"]
    assert found["chalice_from"].startswith(str(code))  # Chalice's runtime, from the zip
    # Both handlers ran, and ignored events of another state machine without touching AWS.
    assert found["status"] == {"written": False, "ignored": "another state machine"}
    assert found["task"] == {"written": False, "ignored": "another state machine"}
