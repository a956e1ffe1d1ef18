"""The wheel is the product: built from the checkout, installed into a fresh venv, used elsewhere.

As a user would: ``pip install -c constraints.txt 'WHEEL[deploy]'`` (non-editable) into a venv
outside the checkout, every command run from another folder, with a Covalent of that venv
(its own covalent.conf, database and ``covalent start`` dispatcher). The venv is built once a
session (pip's cache keeps later builds short). The tests run in file order, each leaving the
venv as a user would after that step: other projects' ``executor`` and ``statemachine`` installed
and removed, the original AWS Batch plugin installed and removed, then a deploy onto the local
stack and an electron on it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from .. import conftest
from ..controlplane.relaying import relayed_rules

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "executor" / "constraints.txt"
STACK = "eventbatch-wheel"
# The original plugin's last release, and the package it imports (installed without their
# dependencies: only their metadata and modules matter here).
ORIGINAL = ("covalent-awsbatch-plugin==0.42.0", "covalent-aws-plugins==0.19.0")
PLUGIN_LINE = "executor plugin 'awsbatch'"


@dataclass(frozen=True)
class WheelVenv:
    wheel: Path
    venv: Path
    elsewhere: Path  # the folder every command runs in: neither the checkout nor the venv
    env: dict[str, str]

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(
        self, *args: str, check: bool = True, timeout: float = 600, **env: str
    ) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            list(args),
            cwd=self.elsewhere,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{args} exited {done.returncode}:\n{done.stdout}{done.stderr}")
        return done

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.bin("python"), "-m", "pip", *args)

    def python(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run(self.bin("python"), "-c", code, *args)


def _clean_env(home: Path) -> dict[str, str]:
    """This session's environment without its Python and Covalent set-up; Covalent of its own."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COVALENT_", "PYTHON", "VIRTUAL_ENV", "AWS_"))
    }
    for name in ("CONFIG", "DATA", "CACHE"):
        path = home / "covalent" / name.lower()
        path.mkdir(parents=True, exist_ok=True)
        env[f"COVALENT_{name}_DIR"] = str(path)
    env["COVALENT_DATABASE"] = str(home / "covalent" / "dispatcher.sqlite")
    env["COVALENT_LOGDIR"] = str(home / "covalent")
    env["COVALENT_DISABLE_DASK"] = "1"
    env["PATH"] = f"{home / 'venv' / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def _source_tree(target: Path) -> Path:
    """The checkout's files that git knows or would add, copied (links kept as links).

    Building from a copy keeps the build's leftovers (build/, *.egg-info) out of the checkout,
    and a stale build/ of an earlier layout out of the wheel.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source, copy = ROOT / name, target / name
        if not os.path.lexists(source):  # deleted, not yet committed
            continue
        copy.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            copy.symlink_to(os.readlink(source))
        else:
            shutil.copy2(source, copy)
    return target


@pytest.fixture(scope="session")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> WheelVenv:
    home = tmp_path_factory.mktemp("wheel-user")
    dist = home / "dist"
    source = _source_tree(home / "source")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("covalent_eventbatch_plugin-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(home / "venv")], check=True)
    elsewhere = home / "elsewhere"
    elsewhere.mkdir()
    user = WheelVenv(wheel, home / "venv", elsewhere, _clean_env(home))
    # The deploy extra, and the SAM transform the local stack's CloudFormation lacks (AWS's has
    # it): what deploying onto the local stack takes, without the local stack itself.
    user.pip("install", "-q", "-c", str(CONSTRAINTS), f"{wheel}[deploy]", "aws-sam-translator")
    return user


def test_the_wheel_has_one_top_level_name_and_what_deploy_needs(wheel_venv: WheelVenv) -> None:
    names = zipfile.ZipFile(wheel_venv.wheel).namelist()
    assert {n.split("/")[0] for n in names} == {
        "covalent_eventbatch",
        wheel_venv.wheel.name.split("-py3")[0] + ".dist-info",
    }
    project = "covalent_eventbatch/controlplane/chalice-project/"
    for name in ("app.py", ".chalice/config.json", ".chalice/policy-markers.json"):
        assert project + name in names
    assert "covalent_eventbatch/container/runner.py" in names
    # Nothing of the local stack's server came with the deploy extra.
    for module in ("moto", "flask"):
        imported = wheel_venv.run(wheel_venv.bin("python"), "-c", f"import {module}", check=False)
        assert imported.returncode == 1, module


def test_other_projects_executor_and_statemachine_come_and_go(wheel_venv: WheelVenv) -> None:
    wheel_venv.pip("install", "-q", "executor", "python-statemachine")
    where = wheel_venv.python(
        "import executor, statemachine, covalent_eventbatch.executor as ours; "
        "print(executor.__file__); print(statemachine.__file__); print(ours.__file__)"
    ).stdout.split()
    assert "covalent_eventbatch" not in where[0] and "covalent_eventbatch" not in where[1]
    assert where[2].endswith("covalent_eventbatch/executor/__init__.py")
    wheel_venv.pip("uninstall", "-q", "-y", "executor", "python-statemachine")
    missing = wheel_venv.python(
        "from importlib.metadata import distribution; "
        "d = distribution('covalent-eventbatch-plugin'); "
        "print([str(f) for f in d.files if not f.locate().exists()])"
    ).stdout.strip()
    assert missing == "[]"
    wheel_venv.python("import covalent_eventbatch.executor.awsbatch, covalent_eventbatch.cli")
    assert "eventbatch deploy" in wheel_venv.run(wheel_venv.bin("eventbatch"), "--help").stdout


def _doctor_without_credentials(wheel_venv: WheelVenv) -> subprocess.CompletedProcess[str]:
    return wheel_venv.run(
        wheel_venv.bin("eventbatch"),
        "doctor",
        "--region",
        "us-east-1",
        check=False,
        timeout=120,
        AWS_SHARED_CREDENTIALS_FILE=str(wheel_venv.elsewhere / "no-credentials"),
        AWS_CONFIG_FILE=str(wheel_venv.elsewhere / "no-config"),
    )


def test_beside_the_original_plugin_covalent_says_which_it_uses(wheel_venv: WheelVenv) -> None:
    wheel_venv.pip("install", "-q", "--no-deps", *ORIGINAL)
    try:
        used = wheel_venv.python(
            "from covalent.executor import _executor_manager as m; "
            "print(m.executor_plugins_map['awsbatch'].__module__)"
        )
        module = used.stdout.strip().splitlines()[-1]
        original = module == "covalent_awsbatch_plugin.awsbatch"
        # One WARNING when the plugins load, naming the one Covalent uses and the way out.
        warnings = [line for line in used.stdout.splitlines() if "[WARNING]" in line]
        assert len(warnings) == 1, used.stdout
        name = "covalent-awsbatch-plugin" if original else "covalent-eventbatch-plugin"
        assert f"It uses the one it loads last, {name}" in warnings[0]
        assert "pip uninstall covalent-awsbatch-plugin" in warnings[0]
        doctor = _doctor_without_credentials(wheel_venv)
        (line,) = [line for line in doctor.stdout.splitlines() if PLUGIN_LINE in line]
        assert line.startswith("FAIL" if original else "warn"), doctor.stdout
        assert f"Covalent uses {name}" in line
        assert "fix: pip uninstall covalent-awsbatch-plugin" in doctor.stdout
    finally:
        wheel_venv.pip("uninstall", "-q", "-y", *(spec.split("==")[0] for spec in ORIGINAL))
    doctor = _doctor_without_credentials(wheel_venv)
    assert doctor.returncode == 1  # no credentials
    assert "Traceback" not in doctor.stdout + doctor.stderr
    (line,) = [line for line in doctor.stdout.splitlines() if PLUGIN_LINE in line]
    assert line.startswith("ok") and "covalent-eventbatch-plugin alone" in line


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


_WORKFLOW = """
import json, covalent as ct
from covalent.executor import _executor_manager
import covalent_eventbatch

@ct.electron(executor="awsbatch")  # every setting from covalent.conf
def add(x, y):
    return x + y

@ct.lattice
def flow(x):
    return add(x, 2)

dispatch_id = ct.dispatch(flow)(40)
result = ct.get_result(dispatch_id, wait=True)
nodes = [result.get_node_result(n) for n in result.lattice.transport_graph._graph.nodes]
print(json.dumps({
    "dispatch_id": dispatch_id,
    "status": str(result.status),
    "result": result.result,
    "errors": [str(n["error"]) for n in nodes if n["error"]],
    "plugin": _executor_manager.executor_plugins_map["awsbatch"].__module__,
    "package": covalent_eventbatch.__file__,
}))
"""


def test_deploy_from_the_wheel_then_an_electron_through_its_dispatcher(
    wheel_venv: WheelVenv, local_stack, aws, keep_policies, tmp_path: Path
) -> None:
    from covalent_eventbatch.localaws import stack

    credentials = stack.local_settings(local_stack).credentials
    # What 'eventbatch local up' writes for a user of the local stack (this session's stack):
    # its credentials, the registry images are pushed to; and small tasks.
    _set_config(
        wheel_venv,
        credentials=credentials,
        registry_endpoint=f"127.0.0.1:{local_stack.registry_port}",
        cache_dir=str(conftest.CACHE_DIR),
        retry_attempts=1,
        vcpu=1,
        memory=1,
    )
    try:
        deployed = wheel_venv.run(
            wheel_venv.bin("eventbatch"),
            "deploy",
            "--stack-name",
            STACK,
            "--profile",  # an administrator deploys
            stack.ADMIN_PROFILE,
            "--region",
            "us-east-1",
            "--endpoint-url",
            local_stack.endpoint_url,
            "--write-config",
        )
        assert "[executors.awsbatch]" in deployed.stdout
        assert "# wrote [executors.awsbatch] to" in deployed.stdout
        described = aws.client("cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
        # Dispatching is a user holding only the stack's ExecutorPolicy, as the README says.
        user = stack.user_profile(local_stack, f"{STACK}-dispatcher", outputs["ExecutorPolicyArn"])
        _set_config(wheel_venv, profile=user)
        relay_log = tmp_path / "relay.log"
        with relayed_rules(
            aws,
            STACK,
            local_stack.endpoint_url,
            wheel_venv.bin("python"),
            env=wheel_venv.env,
            log=relay_log,
        ) as environment:
            assert environment["EVENTBATCH_STATE_MACHINE_ARN"] == outputs["StateMachineArn"]
            run = _dispatch(wheel_venv)
        report = json.loads(run.stdout.strip().splitlines()[-1])
        assert report["status"] == "COMPLETED", report
        assert report["result"] == 42
        # The dispatcher and the SDK ran the installed package, not the checkout.
        assert report["plugin"] == "covalent_eventbatch.executor.awsbatch"
        assert report["package"].startswith(str(wheel_venv.venv))
        handlers = [line for line in relay_log.read_text().splitlines() if "handlers from" in line]
        assert handlers and str(ROOT) not in handlers[0], handlers
        bucket = outputs["S3BucketName"]
        s3 = aws.client("s3")
        (marker,) = s3.list_objects_v2(
            Bucket=bucket, Prefix=f"covalent/markers/{report['dispatch_id']}/"
        )["Contents"]
        body = json.loads(s3.get_object(Bucket=bucket, Key=marker["Key"])["Body"].read())
        # Written by the relayed handler of the deployed rule, not by the executor's sweep.
        assert (body["status"], body["source"]) == ("SUCCEEDED", "task-finished")
    finally:
        try:
            keep_policies()
        finally:
            _delete_stack(aws)


def _set_config(wheel_venv: WheelVenv, **values: object) -> None:
    """Set [executors.awsbatch] keys in the venv's covalent.conf, as a user would."""
    wheel_venv.python(
        "import json, sys, covalent as ct; ct.set_config({'executors.awsbatch.' + k: v "
        "for k, v in json.loads(sys.argv[1]).items()})",
        json.dumps(values),
    )


def _dispatch(wheel_venv: WheelVenv) -> subprocess.CompletedProcess[str]:
    port = _free_port()
    covalent = wheel_venv.bin("covalent")
    wheel_venv.run(covalent, "start", "--no-cluster", "-p", str(port), timeout=180)
    try:
        return wheel_venv.run(wheel_venv.bin("python"), "-c", _WORKFLOW, timeout=600)
    finally:
        wheel_venv.run(covalent, "stop", check=False, timeout=120)


def _delete_stack(aws) -> None:
    cfn = aws.client("cloudformation")
    try:
        described = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    except Exception:  # noqa: BLE001 - never created: nothing to delete
        return
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    ecr = aws.client("ecr")
    if "EcrRepoName" in outputs:
        images = ecr.list_images(repositoryName=outputs["EcrRepoName"])["imageIds"]
        if images:  # moto does not apply the repository's EmptyOnDelete
            ecr.batch_delete_image(repositoryName=outputs["EcrRepoName"], imageIds=images)
    cfn.delete_stack(StackName=STACK)
    events = aws.client("events")
    for rule in events.list_rules(NamePrefix=STACK)["Rules"]:
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if targets:
            events.remove_targets(Rule=rule["Name"], Ids=[t["Id"] for t in targets])
        events.delete_rule(Name=rule["Name"])
