"""The runtime image: what goes into it, its content-addressed tag, and its build context.

One image serves every task and dispatch with the same (base image, Python X.Y, Covalent
version, cloudpickle version, extra packages, runner). The tag is a hash of all of that, so an
image is built and pushed once and found by its tag afterwards.

Packages are installed from a wheelhouse made on the host (``pip download`` for the image's
platform and Python), so the build needs no package index inside the container: builds repeat
exactly, work behind proxies the container does not trust, and are faster.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from .errors import ImageError

RUNNER_MODULE = "eventbatch_runner"
TARGET_PLATFORM = "linux/amd64"  # what Batch's default (x86_64) compute runs
_PIP_PLATFORM = {"linux/amd64": "manylinux2014_x86_64", "linux/arm64": "manylinux2014_aarch64"}
# Bump when the Dockerfile's shape changes, so that the tag changes with it.
_IMAGE_FORMAT = 1


def runner_source() -> str:
    return resources.files("covalent_eventbatch.container").joinpath("runner.py").read_text()


def image_constraints() -> list[str]:
    """The pins of covalent's dependencies, without covalent itself (the dispatch decides it)."""
    text = resources.files(__package__).joinpath("constraints.txt").read_text()
    pins = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        name = line.split("==", 1)[0].strip().lower()
        if line and name not in ("covalent", "moto"):
            pins.append(line)
    return pins


@dataclass(frozen=True)
class ImageSpec:
    base_image: str
    python_version: str  # X.Y
    covalent_version: str
    cloudpickle_version: str
    extra_packages: tuple[str, ...] = ()
    platform: str = TARGET_PLATFORM

    @property
    def requirements(self) -> list[str]:
        return [
            f"covalent=={self.covalent_version}",
            f"cloudpickle=={self.cloudpickle_version}",
            "boto3",
            *self.extra_packages,
        ]

    def dockerfile(self) -> str:
        packages = " ".join(f'"{r}"' for r in self.requirements)
        return (
            f"FROM {self.base_image}\n"
            "COPY wheels /tmp/wheels\n"
            # python3 -m venv works on python:X.Y-slim and on a plain Debian python3 alike.
            "RUN python3 -m venv /opt/eventbatch/venv \\\n"
            " && /opt/eventbatch/venv/bin/pip install --no-cache-dir --no-index"
            f" --find-links /tmp/wheels -c /tmp/wheels/constraints.txt {packages} \\\n"
            " && rm -rf /tmp/wheels\n"
            f"COPY {RUNNER_MODULE}.py /opt/eventbatch/app/{RUNNER_MODULE}.py\n"
            "ENV PATH=/opt/eventbatch/venv/bin:$PATH PYTHONUNBUFFERED=1"
            " PYTHONPATH=/opt/eventbatch/app\n"
            "WORKDIR /opt/eventbatch/app\n"
            f'CMD ["python", "-m", "{RUNNER_MODULE}"]\n'
        )

    @property
    def tag(self) -> str:
        content = json.dumps(
            {
                "spec": asdict(self),
                "format": _IMAGE_FORMAT,
                "dockerfile": self.dockerfile(),
                "runner": runner_source(),
                "constraints": image_constraints(),
            },
            sort_keys=True,
        )
        digest = hashlib.sha256(content.encode()).hexdigest()[:16]
        return f"py{self.python_version}-cov{self.covalent_version}-{digest}"


def default_base_image(python_version: str) -> str:
    return f"python:{python_version}-slim"


def prepare_context(spec: ImageSpec, cache_dir: str) -> Path:
    """Write the build context (Dockerfile, runner, wheelhouse) under cache_dir; reuse it."""
    context = Path(cache_dir).expanduser() / "images" / spec.tag
    done = context / ".complete"
    if done.exists():
        return context
    if context.exists():
        shutil.rmtree(context)
    wheels = context / "wheels"
    wheels.mkdir(parents=True)
    (context / "Dockerfile").write_text(spec.dockerfile())
    (context / f"{RUNNER_MODULE}.py").write_text(runner_source())
    constraints = wheels / "constraints.txt"
    constraints.write_text("\n".join(image_constraints()) + "\n")
    _build_wheelhouse(spec, wheels, constraints)
    done.touch()
    return context


def _build_wheelhouse(spec: ImageSpec, wheels: Path, constraints: Path) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]
    # Covalent ships no wheel, only an sdist of pure Python: build that one wheel here.
    _pip(pip + ["wheel", "--no-deps", "-w", str(wheels), spec.requirements[0]])
    _pip(
        pip
        + [
            "download",
            "--only-binary=:all:",
            "--platform",
            _PIP_PLATFORM.get(spec.platform, "manylinux2014_x86_64"),
            "--python-version",
            spec.python_version,
            "--implementation",
            "cp",
            "--find-links",
            str(wheels),
            "-c",
            str(constraints),
            "-d",
            str(wheels),
            *spec.requirements,
        ]
    )


def _pip(command: list[str]) -> None:
    proc = subprocess.run(command, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ImageError(
            "Could not gather the packages for the runtime image "
            f"({' '.join(command[3:6])} ...):\n{proc.stderr.strip()[-2000:]}\n"
            "Check 'extra_pip_packages' (each needs a wheel for Linux and the dispatch's Python), "
            "or build an image yourself and set 'container_image_uri'."
        )
