"""The oldest boto3/botocore the project claims to support, installed apart from the test venv.

The floor is read from pyproject.toml (``boto3>=X``, ``botocore>=X``), so the tests check the
declared minimum and nothing else. It is installed once with ``pip install --target`` into the
tests' cache folder and reused; the interpreters that use it run with ``-I -S`` and put it first
on ``sys.path``, so no newer SDK can leak in from a site-packages folder.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]
CACHE_DIR = Path.home() / ".cache" / "eventbatch-tests"


def declared_floor(package: str) -> str:
    """The X of ``package>=X`` in pyproject.toml's dependencies."""
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for requirement in dependencies:
        found = re.fullmatch(rf"{package}>=([0-9.]+)", requirement.replace(" ", ""))
        if found:
            return found.group(1)
    raise AssertionError(f"pyproject.toml declares no {package}>=X")


def oldest_sdk() -> tuple[Path, str, str]:
    """(folder holding boto3 and botocore at their floors, boto3 version, botocore version)."""
    boto3, botocore = declared_floor("boto3"), declared_floor("botocore")
    target = CACHE_DIR / "sdk" / f"boto3-{boto3}-botocore-{botocore}"
    done = target / ".complete"
    if not done.exists():
        partial = target.with_name(target.name + f".partial-{os.getpid()}")
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--target"]
            + [str(partial), f"boto3=={boto3}", f"botocore=={botocore}"],
            check=True,
        )
        (partial / ".complete").touch()
        with contextlib.suppress(OSError):  # another run finished first: use its copy
            partial.rename(target)
    return target, boto3, botocore
