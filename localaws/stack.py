"""``eventbatch local up | down | status``: start, stop and report the local stack.

State (pids of what ``up`` started, ports, the relay's queue) is kept in ``state.json`` under
``$EVENTBATCH_LOCAL_HOME`` (default ``~/.eventbatch/local``), with each part's log beside it.
``up`` is idempotent: a part already answering is left alone, and ``down`` stops only the parts
``up`` started.
"""

from __future__ import annotations

import configparser
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from covalent_eventbatch.executor import names
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.settings import ExecutorSettings

from . import engine, moto_capacity, relay
from .policies import EXECUTOR_USER
from .provision import executor_user, provision

DEFAULT_MOTO_PORT = 5055
DEFAULT_REGISTRY_PORT = 5056
REGION = "us-east-1"
LOCAL_BUCKET = f"{names.PRODUCT}-local"
ADMIN_PROFILE = "default"
EXECUTOR_PROFILE = "eventbatch-executor"

Say = Callable[[str], None]


def home() -> Path:
    path = Path(
        os.environ.get("EVENTBATCH_LOCAL_HOME") or Path.home() / ".eventbatch" / "local"
    ).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class StackState:
    moto_port: int = DEFAULT_MOTO_PORT
    registry_port: int = DEFAULT_REGISTRY_PORT
    pids: dict[str, int] = field(default_factory=dict)  # only what this stack started
    queue_url: str = ""
    state_machine_arn: str = ""
    lambda_role_arn: str = ""

    @classmethod
    def load(cls) -> StackState:
        path = home() / "state.json"
        if not path.exists():
            return cls()
        return cls(**json.loads(path.read_text()))

    def save(self) -> None:
        (home() / "state.json").write_text(json.dumps(asdict(self), indent=2))

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"


def local_settings(state: StackState, **overrides: Any) -> ExecutorSettings:
    """The executor settings that point at this local stack.

    The executor calls as its own IAM user (profile ``eventbatch-executor``, made by ``up``),
    whose policy is the executor policy: what a dispatcher gets on AWS.
    """
    values: dict[str, Any] = {
        "credentials": str(_credentials_file()),
        "profile": EXECUTOR_PROFILE if profile_key(EXECUTOR_PROFILE) else ADMIN_PROFILE,
        "region": REGION,
        "s3_bucket_name": LOCAL_BUCKET,
        "endpoint_url": state.endpoint_url,
        "registry_endpoint": f"127.0.0.1:{state.registry_port}",
        "cache_dir": str(home() / "cache"),
        "time_limit": 300,
        "retry_attempts": 1,
        "vcpu": 1,
        "memory": 1,
    }
    values.update(overrides)
    return ExecutorSettings.resolve(values)


def _credentials_file() -> Path:
    path = home() / "credentials"
    if not path.exists():
        # moto accepts any key; these are the conventional dummies, for setting the stack up.
        path.write_text("[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n")
    return path


def profile_key(profile: str) -> str:
    parser = configparser.ConfigParser()
    parser.read(_credentials_file())
    return parser.get(profile, "aws_access_key_id", fallback="")


def _write_profile(profile: str, key: tuple[str, str]) -> None:
    parser = configparser.ConfigParser()
    path = _credentials_file()
    parser.read(path)
    parser[profile] = {"aws_access_key_id": key[0], "aws_secret_access_key": key[1]}
    with open(path, "w") as f:
        parser.write(f)


def user_profile(state: StackState, user: str, policy_arn: str) -> str:
    """A profile (named after the user) for an IAM user holding only the managed policy.

    For dispatchers of a deployed stack: the user gets the stack's ExecutorPolicy, as the
    README tells an administrator to do.
    """
    iam = admin_clients(state).client("iam")
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_user(UserName=user)
    iam.attach_user_policy(UserName=user, PolicyArn=policy_arn)
    keys = iam.list_access_keys(UserName=user)["AccessKeyMetadata"]
    if not any(k["AccessKeyId"] == profile_key(user) for k in keys):
        key = iam.create_access_key(UserName=user)["AccessKey"]
        _write_profile(user, (key["AccessKeyId"], key["SecretAccessKey"]))
    return user


def admin_clients(state: StackState) -> AwsClients:
    """Clients with the stack's set-up credentials (no IAM policy limits them)."""
    settings = local_settings(state, profile=ADMIN_PROFILE)
    return AwsClients(settings.credentials, ADMIN_PROFILE, settings.region, state.endpoint_url)


def _aws_env(state: StackState) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL=state.endpoint_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
    )
    if state.state_machine_arn:
        # The handlers record events of this state machine only, as the deployed Lambda does.
        env["EVENTBATCH_STATE_MACHINE_ARN"] = state.state_machine_arn
    if state.lambda_role_arn:
        # The handlers call with the Lambda role's credentials, as on AWS.
        env[relay.ROLE_ENV] = state.lambda_role_arn
    return env


def _moto_answers(port: int) -> bool:
    try:
        # /moto-api/ answers cheaply; data.json serialises every backend and fails (500) once
        # Batch has run jobs.
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=2):
            return True
    except Exception:
        return False


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:  # a zombie (exited, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return True


def _spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> int:
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=out, env=env, start_new_session=True, cwd=str(home())
        )
    return proc.pid


def up(
    moto_port: int | None = None,
    registry_port: int | None = None,
    write_config: bool = True,
    say: Say = print,
) -> StackState:
    state = StackState.load()
    if moto_port:
        state.moto_port = moto_port
    if registry_port:
        state.registry_port = registry_port
    logs = home()

    pid = engine.start_dockerd(logs / "dockerd.log")
    if pid:
        state.pids["dockerd"] = pid
    say(f"{'started' if pid else 'running'} Docker engine")
    pid = engine.start_registry(state.registry_port, logs / "registry", logs / "registry.log")
    if pid:
        state.pids["registry"] = pid
    say(f"{'started' if pid else 'running'} registry on 127.0.0.1:{state.registry_port}")
    state.save()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    say(engine.ensure_base_image(python, logs / "base-image.log"))

    if not _moto_answers(state.moto_port):
        moto_capacity.machine_slots()  # a bad value stops here, not in moto's log
        state.pids["moto"] = _spawn(
            [sys.executable, "-m", "covalent_eventbatch.localaws.motoserver", str(state.moto_port)],
            logs / "moto.log",
        )
        state.save()
        engine.wait_for(
            lambda: _moto_answers(state.moto_port), 60, f"moto server (see {logs / 'moto.log'})"
        )
        say(f"started moto server on {state.endpoint_url}")
    else:
        say(f"running moto server on {state.endpoint_url}")

    settings = local_settings(state, profile=ADMIN_PROFILE)
    clients = admin_clients(state)
    provisioned = provision(clients, settings)
    for line in provisioned.actions:
        say(line)
    state.queue_url = provisioned.queue_url
    state.state_machine_arn = provisioned.state_machine_arn
    state.lambda_role_arn = provisioned.lambda_role_arn
    key = executor_user(clients, settings, profile_key(EXECUTOR_PROFILE))
    if key:
        _write_profile(EXECUTOR_PROFILE, key)
    say(f"exists  IAM user {EXECUTOR_USER} (profile {EXECUTOR_PROFILE}, the executor policy)")
    settings = local_settings(state)

    if not _alive(state.pids.get("relay")):
        state.pids["relay"] = _spawn(
            [sys.executable, "-m", "covalent_eventbatch.localaws.relay", state.queue_url],
            logs / "relay.log",
            env=_aws_env(state),
        )
        say("started relay (EventBridge -> SQS -> Chalice handler)")
    else:
        say("running relay")
    state.save()
    if write_config:
        path = write_covalent_config(settings)
        say(f"wrote [executors.awsbatch] to {path}")
    return state


def start_relay(state: StackState) -> None:
    """(Re)start the relay alone: used to simulate a Lambda outage and its recovery."""
    if not _alive(state.pids.get("relay")):
        state.pids["relay"] = _spawn(
            [sys.executable, "-m", "covalent_eventbatch.localaws.relay", state.queue_url],
            home() / "relay.log",
            env=_aws_env(state),
        )
        state.save()


def stop_relay(state: StackState) -> None:
    _stop(state.pids.pop("relay", None))
    state.save()


def write_covalent_config(settings: ExecutorSettings) -> str:
    """Write the [executors.awsbatch] section of covalent.conf (in COVALENT_CONFIG_DIR)."""
    from covalent._shared_files import config

    # Covalent's own manager, re-read first: this process may hold an older copy of the file.
    manager = config._config_manager
    manager.read_config()
    manager.update_config({"executors": {"awsbatch": settings.to_config()}}, override_existing=True)
    manager.write_config()
    return str(manager.config_file)


def down(say: Say = print) -> None:
    state = StackState.load()
    _remove_job_containers(state, say)
    # Reverse order of start: nothing that uses a part outlives it.
    for name in ("relay", "moto", "registry", "dockerd"):
        pid = state.pids.pop(name, None)
        if pid and _alive(pid):
            _stop(pid)
            say(f"stopped {name} (pid {pid})")
    state.save()


def _remove_job_containers(state: StackState, say: Say) -> None:
    """Batch job containers of this stack's moto left behind (moto names them after the job)."""
    if not engine.docker_ping():
        return
    import docker

    ours = f"AWS_ENDPOINT_URL={state.endpoint_url}"
    client = docker.from_env()
    # Listed sparse and inspected one by one: other stacks on the same engine remove their own
    # containers meanwhile, and a full listing fails on the first that is gone.
    for listed in client.containers.list(all=True, filters={"name": "covalent-"}, sparse=True):
        try:
            container = client.containers.get(listed.id)
            if ours in (container.attrs.get("Config", {}).get("Env") or []):
                container.remove(force=True)
                say(f"removed job container {container.name}")
        except docker.errors.NotFound:
            continue


def _stop(pid: int | None, timeout: float = 20) -> None:
    if not pid or not _alive(pid):
        return
    try:
        os.killpg(pid, signal.SIGTERM)
    except OSError:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.2)
    if _alive(pid):
        with contextlib.suppress(OSError):
            os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def status() -> list[tuple[str, bool, str]]:
    state = StackState.load()
    rows = [
        (
            "Docker engine",
            engine.docker_ping(),
            "dockerd" if "dockerd" in state.pids else "external",
        ),
        (
            "registry",
            engine.registry_answers(state.registry_port),
            f"127.0.0.1:{state.registry_port}",
        ),
        ("moto server", _moto_answers(state.moto_port), state.endpoint_url),
        ("relay", _alive(state.pids.get("relay")), f"pid {state.pids.get('relay', '-')}"),
    ]
    return rows
