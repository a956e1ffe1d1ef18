"""Chalice commands that would create a function with a runtime AWS refuses stop first."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from covalent_eventbatch.chalice_app.runtime import LAMBDA_RUNTIME, unsupported_runtime

ROOT = Path(__file__).resolve().parents[2]
CHALICE = "/somewhere/bin/chalice"


@pytest.mark.parametrize(
    "argv, version, refused",
    [
        ([CHALICE, "deploy"], (3, 11), True),
        ([CHALICE, "--project-dir", ".", "deploy", "--stage", "dev"], (3, 10), True),
        ([CHALICE, "package", "out"], (3, 11), True),
        (
            [CHALICE, "package", "--merge-template", "controlplane/control-plane.json", "o"],
            (3, 11),
            False,
        ),
        ([CHALICE, "deploy"], (3, 12), False),
        ([CHALICE, "deploy"], (3, 13), False),
        ([CHALICE, "local"], (3, 11), False),
        (["/var/runtime/bootstrap.py"], (3, 11), False),  # the Lambda importing app.py
        (["pytest", "deploy"], (3, 11), False),
    ],
)
def test_which_commands_are_refused(
    argv: list[str], version: tuple[int, int], refused: bool
) -> None:
    reason = unsupported_runtime(argv, version)
    assert (reason is not None) == refused
    if reason:
        interpreter = f"python{version[0]}.{version[1]}"
        assert f"runtime {interpreter}" in reason
        assert "3.12 or newer" in reason and "--merge-template" in reason
        assert LAMBDA_RUNTIME in reason


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="this Python's runtime is accepted")
def test_chalice_deploy_on_this_python_stops_before_touching_aws(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "chalice"), "deploy"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # Nowhere to go: a deploy that got past the check would fail on the endpoint instead.
        env={
            "PATH": "/usr/bin:/bin",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "a",
            "AWS_SECRET_ACCESS_KEY": "b",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
            "HOME": str(tmp_path),
        },
    )
    assert done.returncode == 1
    assert "AWS no longer creates python3.11 functions" in done.stderr, done.stderr
    assert not (ROOT / ".chalice" / "deployed").exists()
