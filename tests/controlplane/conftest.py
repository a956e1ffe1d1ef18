"""The packaged control plane (``chalice package`` with the merge template), built once."""

from __future__ import annotations

from pathlib import Path

import pytest

from covalent_eventbatch.controlplane import deploy


@pytest.fixture(scope="session")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> deploy.Package:
    return deploy.package(Path(tmp_path_factory.mktemp("package")), "us-east-1")
