"""The local stack's container side: Docker engine, image registry and base image.

Each helper starts a thing only when it is missing and says whether it did, so that ``down``
stops exactly what ``up`` started.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from covalent_eventbatch.executor.errors import EventBatchError


class LocalStackError(EventBatchError):
    """A part of the local stack could not be started."""


def docker_ping() -> bool:
    try:
        import docker

        docker.from_env(timeout=5).ping()
        return True
    except Exception:
        return False


def start_dockerd(log_file: Path) -> int | None:
    """Start dockerd when no engine answers; return its pid, or None when one was running."""
    if docker_ping():
        return None
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        raise LocalStackError(
            "No Docker engine answers and dockerd is not installed. Install it "
            "(apt-get install docker.io) or start Docker, then run 'eventbatch local up' again."
        )
    if os.geteuid() != 0:
        raise LocalStackError(
            "No Docker engine answers. Start Docker (as root: dockerd), or run "
            "'eventbatch local up' as root so that it can start dockerd itself."
        )
    with open(log_file, "ab") as log:
        # No iptables or bridge: jobs use the host network (to reach moto on 127.0.0.1), and
        # this keeps dockerd working in containers and CI machines without those privileges.
        proc = subprocess.Popen(
            [dockerd, "--iptables=false", "--bridge=none"],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    wait_for(docker_ping, 60, f"dockerd (see {log_file})")
    return proc.pid


def start_registry(port: int, data_dir: Path, log_file: Path) -> int | None:
    """Serve a Docker registry (distribution) on 127.0.0.1:port; None when one already answers."""
    if registry_answers(port):
        return None
    binary = shutil.which("docker-registry") or shutil.which("registry")
    if binary is None:
        raise LocalStackError(
            "The image registry is not installed: apt-get install docker-registry."
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {data_dir / 'storage'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log, stderr=log, start_new_session=True
        )
    wait_for(lambda: registry_answers(port), 30, f"the registry on port {port} (see {log_file})")
    return proc.pid


def registry_answers(port: int) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2) as response:
            return bool(response.status == 200)
    except Exception:
        return False


def ensure_base_image(python_version: str, log_file: Path) -> str:
    """Make python:X.Y-slim available to the engine: pull it, else build it with debootstrap.

    The debootstrap image is Debian bookworm's python3 (3.11); it is only made for X.Y = 3.11,
    since cloudpickle needs the same minor version on both sides.
    """
    import docker

    tag = f"python:{python_version}-slim"
    client = docker.from_env()
    try:
        client.images.get(tag)
        return f"present {tag}"
    except docker.errors.ImageNotFound:
        pass
    try:
        client.images.pull(tag)
        return f"pulled  {tag}"
    except docker.errors.APIError:
        pass
    if python_version != "3.11":
        raise LocalStackError(
            f"{tag} cannot be pulled and can only be built here for Python 3.11 (Debian "
            "bookworm). Run the dispatcher on Python 3.11, or make the image available to Docker."
        )
    if shutil.which("debootstrap") is None or os.geteuid() != 0:
        raise LocalStackError(
            f"{tag} cannot be pulled; building it needs root and debootstrap "
            "(apt-get install debootstrap)."
        )
    with (
        tempfile.TemporaryDirectory(prefix="eventbatch-rootfs-") as rootfs,
        open(log_file, "ab") as log,
    ):
        print(f"building {tag} with debootstrap (about a minute)...", file=sys.stderr, flush=True)
        subprocess.run(
            [
                "debootstrap",
                "--variant=minbase",
                "--include=python3,python3-venv,ca-certificates",
                "bookworm",
                rootfs,
            ],
            check=True,
            stdout=log,
            stderr=log,
        )
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        subprocess.run(
            ["docker", "import", "-", tag], stdin=tar.stdout, check=True, stdout=log, stderr=log
        )
        tar.wait()
    return f"built   {tag} (debootstrap)"


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.3)
    raise LocalStackError(f"{what} did not come up within {seconds:.0f} s")
