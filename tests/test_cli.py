"""Every ``eventbatch`` command fails well: one line, exit status 1, no traceback, in bounded time.

The set-up errors are run as a user meets them, through the command's ``main()`` in a process of
its own with the user's environment: no credentials at all (an empty credentials file, none in the
environment), and an endpoint that accepts connections and never answers (a firewall that
drops traffic looks the same to a client). Bad input is run through ``main()``: it is refused
before the first AWS call, so no network is involved.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from covalent_eventbatch import cli

# The console script's own entry point, main(), in a fresh process with the user's environment;
# the clock starts once Python and its imports are loaded, since on a machine shared with other
# test runs start-up alone can take many seconds. Wall time, start-up included, is kept too.
_TIMED_MAIN = """
import sys, time
from covalent_eventbatch import cli
cli._parts()
started = time.monotonic()
try:
    code = cli.main(sys.argv[1:])
finally:
    print(f"#took {time.monotonic() - started:.2f}", file=sys.stderr)
sys.exit(code)
"""
DISPATCH = "2c2b3b1e-5b5a-4f47-9b61-0a3f6a4d1c2e"
# Every command that talks to AWS, as a user would type it.
COMMANDS = {
    "deploy": ["deploy"],
    "doctor": ["doctor"],
    "status": ["status", DISPATCH, "--no-names"],
    "logs": ["logs", DISPATCH, "0"],
    "image build": ["image", "build"],
    "cleanup": ["cleanup", DISPATCH],
}
LIMIT_S = 30.0  # from the command's start to its one line
WALL_LIMIT_S = 90.0  # start-up included, on a busy machine


@pytest.fixture(scope="module")
def silent_endpoint() -> Iterator[str]:
    """A local socket that accepts every connection and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.5)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def _home(root: Path, section: dict[str, str], credentials: str) -> dict[str, str]:
    """A user's environment: its own HOME and covalent.conf, no AWS variables, no proxy."""
    root.mkdir(parents=True)
    for name in ("config", "data", "cache"):
        (root / name).mkdir()
    (root / "credentials").write_text(credentials)
    (root / "aws-config").write_text("")
    lines = ["[executors.awsbatch]"] + [f'{k} = "{v}"' for k, v in section.items()]
    (root / "config" / "covalent.conf").write_text("\n".join(lines) + "\n")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "COVALENT_", "EVENTBATCH_")) and "proxy" not in k.lower()
    }
    env.update(
        HOME=str(root),
        COVALENT_CONFIG_DIR=str(root / "config"),
        COVALENT_DATA_DIR=str(root / "data"),
        COVALENT_CACHE_DIR=str(root / "cache"),
        AWS_SHARED_CREDENTIALS_FILE=str(root / "credentials"),
        AWS_CONFIG_FILE=str(root / "aws-config"),
        # No instance role to find either (this machine's link-local network is not the point).
        AWS_EC2_METADATA_DISABLED="true",
        DOCKER_HOST="unix:///nonexistent/docker.sock",
    )
    return env


def _run_all(cases: dict[str, tuple[list[str], dict[str, str]]], stagger_s: float) -> dict:
    """Run the commands side by side, started ``stagger_s`` apart (their Python start-up is
    CPU-bound; their waiting is not); each one's own wall time is measured."""
    running = {}
    for name, (argv, env) in cases.items():
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", _TIMED_MAIN, *argv],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        running[name] = (proc, started)
        time.sleep(stagger_s)
    results = {}
    for name, (proc, started) in running.items():
        try:
            out, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        wall = time.monotonic() - started
        took = re.findall(r"^#took ([0-9.]+)$", err, re.M)
        err = re.sub(r"^#took [0-9.]+\n?", "", err, flags=re.M)
        results[name] = (proc.returncode, out, err, float(took[0]) if took else wall, wall)
    return results


def _check_one_line(name: str, result: tuple, pattern: str) -> None:
    code, out, err, took, wall = result
    shown = f"{name}: exit {code} in {took:.1f} s ({wall:.1f} s with start-up)\n"
    shown += f"stdout:\n{out}\nstderr:\n{err}"
    print(shown.splitlines()[0])  # the figures, for the log (pytest -s)
    assert "Traceback" not in out + err, shown
    assert code == 1, shown
    assert took < LIMIT_S and wall < WALL_LIMIT_S, shown
    if name == "doctor":
        # The doctor's report: the first check fails with its reason and fix; nothing on stderr.
        first = out.splitlines()[0]
        assert first.startswith("FAIL  credentials"), shown
        assert re.search(pattern, first, re.I), shown
        assert "fix: " in out and err == "", shown
        return
    # Progress lines may come first ('image build' says what it checks); the error is the one
    # line that ends the output.
    lines = err.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:], shown
    assert re.search(pattern, errors[0], re.I), shown


def test_every_command_without_credentials(tmp_path: Path) -> None:
    cases = {}
    for name, argv in COMMANDS.items():
        env = _home(tmp_path / name.replace(" ", "-"), {}, credentials="")
        cases[name] = (argv, env)
    for name, result in _run_all(cases, stagger_s=1.0).items():
        _check_one_line(name, result, r"no (usable )?AWS credentials")
        line = result[1] + result[2]
        assert "'credentials'" in line and "'profile'" in line  # the settings to set


def test_every_command_against_a_network_that_never_answers(
    tmp_path: Path, silent_endpoint: str
) -> None:
    keys = "[default]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = example\n"
    cases = {}
    for name, argv in COMMANDS.items():
        root = tmp_path / name.replace(" ", "-")
        env = _home(root, {"endpoint_url": silent_endpoint}, credentials=keys)
        cases[name] = (argv, env)
    for name, result in _run_all(cases, stagger_s=2.5).items():
        _check_one_line(name, result, r"network problem")
        assert silent_endpoint in result[1] + result[2]  # names where it tried


# --- bad input: refused before any AWS call ----------------------------------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["deploy", "-p", "ComputeEnvironment=BOGUS"], "ComputeEnvironment: 'BOGUS' is not one of"),
        (["deploy", "-p", "ComputeEnviroment=EC2"], "did you mean ComputeEnvironment?"),
        (["deploy", "-p", "SubnetIds"], "-p SubnetIds: give a template parameter as KEY=VALUE"),
        (["deploy", "-p", "LogRetentionDays=2"], "LogRetentionDays: 2 is not one of"),
        (["deploy", "--stack-name", "1stack"], "is not a stack name CloudFormation accepts"),
        (["deploy", "--artifact-bucket", "Not_A_Bucket"], "--artifact-bucket: 'Not_A_Bucket'"),
        (["deploy", "--region", "mars"], "'mars' is not an AWS region name"),
        (["doctor", "--endpoint-url", "localhost:5055"], "endpoint_url='localhost:5055'"),
        (["logs", DISPATCH, "first"], "'first' is not a node id"),
        (["cleanup", DISPATCH, "../other"], "'../other' is not a dispatch id"),
        (["status", DISPATCH, "--interval", "0"], "give seconds from 0.1 to 3600"),
        (["local", "up", "--moto-port", "70000"], "'70000' is not a port"),
        (["imagee", "build"], "invalid choice: 'imagee'"),
    ],
)
def test_bad_input_is_one_line_before_any_aws_call(
    argv: list[str], expected: str, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    # Any AWS call would need credentials: there are none, so reaching AWS would fail otherwise.
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's refusals
        code = exc.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 1, captured
    assert len(lines) == 1 and lines[0].startswith("error: "), captured
    assert expected in lines[0]
    assert "credentials" not in lines[0]


def test_an_invalid_setting_in_covalent_conf_is_named(capsys, monkeypatch) -> None:
    from covalent_eventbatch.executor import awsbatch

    monkeypatch.setattr(awsbatch, "config_section", lambda: {"retry_attempts": 99})
    assert cli.main(["cleanup", DISPATCH]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: Invalid executor setting retry_attempts=99")
    assert len(err.splitlines()) == 1


# --- AWS's answers, one kind each --------------------------------------------------------


def test_a_missing_bucket_names_the_setting(moto_aws, capsys, monkeypatch) -> None:
    from covalent_eventbatch.executor import awsbatch

    monkeypatch.setattr(awsbatch, "config_section", lambda: {"s3_bucket_name": "not-made-yet"})
    assert cli.main(["cleanup", DISPATCH]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: S3 bucket 'not-made-yet' does not exist in us-east-1")
    assert "set 's3_bucket_name'" in err and len(err.splitlines()) == 1


def test_a_missing_repository_names_the_setting(moto_aws, capsys, monkeypatch) -> None:
    from covalent_eventbatch.executor import awsbatch

    monkeypatch.setattr(awsbatch, "config_section", lambda: {"ecr_repo_name": "no-such-repo"})
    assert cli.main(["image", "build"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.splitlines()[-1].startswith("error: ECR repository 'no-such-repo' does not exist")
    assert "ecr_repo_name" in err and err.count("error: ") == 1


def _client_error(code: str, status: int, operation: str = "ListObjectsV2") -> ClientError:
    response = {
        "Error": {"Code": code, "Message": f"{code} says no"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "status", "command", "expected"),
    [
        ("AccessDenied", 403, "cleanup", "was denied for profile 'ops'"),
        ("AccessDenied", 403, "deploy", "controlplane/deployer-policy.json"),
        ("AccessDeniedException", 400, "status", "DispatchStatus"),
        ("ExpiredToken", 400, "cleanup", "AWS refused the credentials of profile 'ops'"),
        ("SlowDown", 503, "cleanup", "AWS throttled ListObjectsV2"),
        ("InternalError", 500, "cleanup", "server error"),
        ("InvalidParameterValue", 400, "cleanup", "ListObjectsV2 failed (InvalidParameterValue"),
    ],
)
def test_each_kind_of_aws_error_has_its_line(code, status, command, expected) -> None:
    from covalent_eventbatch.executor.settings import ExecutorSettings

    settings = ExecutorSettings(profile="ops")
    line = cli.aws_error_line(_client_error(code, status), command, settings)
    assert expected in line
    assert "\n" not in line


# --- progress ------------------------------------------------------------------------------


@pytest.mark.parametrize("terminal", [False, True])
def test_progress_is_plain_lines_on_stderr(terminal: bool, capsys, monkeypatch) -> None:
    from covalent_eventbatch.executor.cli import progress

    monkeypatch.setattr(sys.stderr, "isatty", lambda: terminal)
    with progress("deploying stack s") as say:
        say("12:00:01  CREATE_IN_PROGRESS  AWS::S3::Bucket  Bucket: [not markup]")
        say("12:00:09  CREATE_COMPLETE  AWS::S3::Bucket  Bucket")
    captured = capsys.readouterr()
    assert captured.out == ""
    # On a terminal a spinner shows the latest line under them (rich's control codes aside).
    err = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", captured.err)
    assert ("deploying stack s: 12:00:01" in err) is terminal
    lines = [line for line in err.splitlines() if line.startswith("12:00")]
    assert lines == [
        "12:00:01  CREATE_IN_PROGRESS  AWS::S3::Bucket  Bucket: [not markup]",
        "12:00:09  CREATE_COMPLETE  AWS::S3::Bucket  Bucket",
    ]
