"""Shared fixtures: the local stack and a real Covalent dispatcher, each started once a session.

Covalent reads its folders from the environment when it is imported, so they are set here,
before any test module imports it. The local stack gets ports and a home of its own, so a
developer's running stack is left alone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

_SESSION_DIR = Path(tempfile.mkdtemp(prefix="eventbatch-tests-"))
for _name in ("CONFIG", "DATA", "CACHE"):
    _path = _SESSION_DIR / "covalent" / _name.lower()
    _path.mkdir(parents=True, exist_ok=True)
    os.environ[f"COVALENT_{_name}_DIR"] = str(_path)
# The dispatcher runs without Dask (`covalent start --no-cluster`); this makes the SDK's default
# workflow executor match it when the test modules' lattices are defined.
os.environ["COVALENT_DISABLE_DASK"] = "1"
# The dispatcher's database is not under COVALENT_DATA_DIR: without this, every dispatcher on the
# machine shares one, and one stopping cancels the others' running dispatches.
os.environ["COVALENT_DATABASE"] = str(_SESSION_DIR / "covalent" / "dispatcher.sqlite")
os.environ["COVALENT_LOGDIR"] = str(_SESSION_DIR / "covalent")
os.environ.setdefault("EVENTBATCH_LOCAL_HOME", str(_SESSION_DIR / "local"))
# The local stack's moto server records every request with its caller; at the end of the session
# each component's calls are checked against its IAM policy (see local_stack).
CALL_LOG = Path(os.environ.setdefault("EVENTBATCH_CALL_LOG", str(_SESSION_DIR / "aws-calls.jsonl")))
IAM_REPORT = _SESSION_DIR / "iam-report.txt"
TEST_MOTO_PORT = int(os.environ.get("EVENTBATCH_TEST_MOTO_PORT", "5155"))
TEST_REGISTRY_PORT = int(os.environ.get("EVENTBATCH_TEST_REGISTRY_PORT", "5156"))
BIN = Path(sys.executable).parent
CACHE_DIR = Path.home() / ".cache" / "eventbatch-tests"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def moto_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto's backends in this process, with dummy credentials: for narrow unit tests."""
    from moto import mock_aws

    for name, value in {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture(scope="session")
def local_stack() -> Iterator[object]:
    """The local stack, provisioned, with covalent.conf pointing at it."""
    from covalent_eventbatch.localaws import stack

    state = stack.up(TEST_MOTO_PORT, TEST_REGISTRY_PORT, write_config=False, say=lambda _: None)
    # Wheels and build contexts outlive the session, so a rerun's image build hits the cache.
    settings = stack.local_settings(state, cache_dir=str(CACHE_DIR))
    stack.write_covalent_config(settings)
    yield state
    try:
        if "moto" in state.pids:  # started here, so it recorded this session's calls
            _check_least_privilege(state)
    finally:
        stack.down(say=lambda _: None)


# Resource name -> why: calls on it may be refused (see outside_policy).
_EXCUSED: dict[str, str] = {}
# Principal ARN -> its policies, kept before the stack that made it is deleted (keep_policies).
_KEPT_POLICIES: dict[str, list[dict]] = {}


@pytest.fixture(scope="session")
def keep_policies(local_stack: object) -> Callable[[], None]:
    """Call before deleting a stack: its principals' calls are checked at the session's end."""
    from covalent_eventbatch.localaws import iamcheck, stack

    def keep() -> None:
        iam = stack.admin_clients(local_stack).client("iam")  # type: ignore[arg-type]
        _KEPT_POLICIES.update(iamcheck.principal_policies(iam, iamcheck.all_principals(iam)))

    return keep


@pytest.fixture
def outside_policy() -> Callable[[str, str], None]:
    """Declare a resource a test aims a component at on purpose, outside the stack's policies.

    A missing bucket, another queue: the stack's policies do not grant them (on AWS the call
    would be refused with AccessDenied), and the session's IAM check lists them apart.
    """

    def excuse(name: str, why: str) -> None:
        _EXCUSED[name] = why

    return excuse


def _check_least_privilege(state: object) -> None:
    """Fail the session when a component made a call its IAM policy does not grant.

    Every principal that called (the executor's user; the Lambda, job and state machine roles;
    the deployed stack's roles) is held to the policies IAM holds for it, resources included.
    """
    from covalent_eventbatch.localaws import iamcheck, stack

    calls = list(iamcheck.read_calls(str(CALL_LOG))) if CALL_LOG.exists() else []
    if not calls:
        pytest.fail(f"no AWS calls were recorded in {CALL_LOG}: the IAM check cannot run")
    principals = {c["principal"] for c in calls if c.get("principal", "").startswith("arn:")}
    policies = {p: d for p, d in _KEPT_POLICIES.items() if p in principals}
    policies.update(
        iamcheck.principal_policies(stack.admin_clients(state).client("iam"), principals)
    )
    gone = sorted(principals - set(policies))
    if gone:
        pytest.fail(f"the policies of {gone} were not kept (keep_policies) before deletion")
    # The optional statement is the doctor's alone: the executor needing it is a defect.
    doctor_only = {
        sid: "eventbatch-doctor"
        for sid in ("DoctorChecks", "DoctorChecksScoped", "DoctorReadsRolePolicies")
    }
    report = iamcheck.check(calls, policies, _EXCUSED, doctor_only)
    counts: dict[str, int] = {}
    for call in calls:
        counts[call.get("principal", "?")] = counts.get(call.get("principal", "?"), 0) + 1
    lines = [f"{n:7} calls by {p}" for p, n in sorted(counts.items())]
    lines += ["", "Statement actions no call needed:"] + iamcheck.unused(report, policies)
    lines += ["", "Refused as expected (tests aimed at resources not the stack's):"]
    lines += sorted({f"{v.need.action} on {v.need.resource}: {v.excused}" for v in report.excused})
    problems = iamcheck.describe(report)
    IAM_REPORT.write_text("\n".join(lines + ["", problems or "every call granted"]) + "\n")
    if problems:
        pytest.fail(f"AWS calls their component's IAM policy does not grant:\n{problems}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if IAM_REPORT.exists():
        terminalreporter.write_sep("-", "IAM: recorded calls against each component's policy")
        terminalreporter.write(IAM_REPORT.read_text())


@pytest.fixture(scope="session")
def covalent_server(local_stack: object) -> Iterator[int]:
    """A real `covalent start --no-cluster` dispatcher; yields its port."""
    port = _free_port()
    covalent = str(BIN / "covalent")
    if os.environ.get("EVENTBATCH_TEST_COVALENT_DEBUG"):
        import covalent as ct

        ct.set_config("sdk.log_level", "debug")  # the dispatcher's log: COVALENT_LOGDIR
    log = open(_SESSION_DIR / "covalent-start.log", "ab")  # noqa: SIM115 - held open by the fixture
    subprocess.run(
        [covalent, "start", "--no-cluster", "-p", str(port)], check=True, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.5)
    import covalent as ct
    from covalent._shared_files.config import reload_config

    # This process read covalent.conf when it imported Covalent, before the server wrote its port.
    reload_config()
    ct.set_config("dispatcher.port", port)
    yield port
    subprocess.run([covalent, "stop"], stdout=log, stderr=log)
    log.close()


@pytest.fixture(scope="session")
def aws(local_stack: object):  # type: ignore[no-untyped-def]
    """boto3 clients on the local stack, for checking what the product did."""
    from covalent_eventbatch.localaws import stack

    # The stack's set-up credentials: checking what the product did is no component's call.
    return stack.admin_clients(stack.StackState.load())
