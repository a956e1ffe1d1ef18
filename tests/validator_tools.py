"""Where the third-party validators are (``make validators`` installs them, pinned).

Missing tools skip their tests with the command that installs them, except under ``make test``
and ``make unit``, which install them first and set EVENTBATCH_REQUIRE_VALIDATORS so that a
missing tool fails instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VALIDATORS_VENV = ROOT / ".venv-validators" / "bin"
ASL_VALIDATOR = ROOT / "tools" / "validators" / "node_modules" / ".bin" / "asl-validator"


def require(path: Path) -> str:
    if path.exists():
        return str(path)
    message = f"{path.relative_to(ROOT)} is not installed: run 'make validators'"
    if os.environ.get("EVENTBATCH_REQUIRE_VALIDATORS"):
        pytest.fail(message)
    pytest.skip(message)


def checkov() -> str:
    return require(VALIDATORS_VENV / "checkov")


def validators_python() -> str:
    """The validators venv's Python (parliament is used through its Python API)."""
    return require(VALIDATORS_VENV / "python")


def asl_validator() -> str:
    return require(ASL_VALIDATOR)
