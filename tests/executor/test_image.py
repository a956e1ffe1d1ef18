"""The runtime image's content tag and Dockerfile."""

from __future__ import annotations

import dataclasses

from covalent_eventbatch.executor.image import ImageSpec, image_constraints

SPEC = ImageSpec("python:3.11-slim", "3.11", "0.240.0", "3.1.3")


def test_tag_is_stable_and_readable() -> None:
    assert SPEC.tag == ImageSpec("python:3.11-slim", "3.11", "0.240.0", "3.1.3").tag
    assert SPEC.tag.startswith("py3.11-cov0.240.0-")


def test_tag_changes_with_every_input() -> None:
    variants = [
        dataclasses.replace(SPEC, base_image="python:3.11-bookworm"),
        dataclasses.replace(SPEC, python_version="3.12"),
        dataclasses.replace(SPEC, covalent_version="0.239.0"),
        dataclasses.replace(SPEC, cloudpickle_version="3.0.0"),
        dataclasses.replace(SPEC, extra_packages=("numpy",)),
        dataclasses.replace(SPEC, platform="linux/arm64"),
    ]
    tags = {v.tag for v in variants} | {SPEC.tag}
    assert len(tags) == len(variants) + 1


def test_dockerfile_installs_offline_from_the_wheelhouse() -> None:
    text = dataclasses.replace(SPEC, extra_packages=("numpy==2.0",)).dockerfile()
    assert text.startswith("FROM python:3.11-slim\n")
    assert "--no-index --find-links /tmp/wheels" in text
    assert '"covalent==0.240.0" "cloudpickle==3.1.3" "boto3" "numpy==2.0"' in text
    assert 'CMD ["python", "-m", "eventbatch_runner"]' in text


def test_image_constraints_leave_covalent_to_the_dispatch() -> None:
    pins = image_constraints()
    assert any(p.startswith("pydantic==") for p in pins)
    assert not any(p.startswith(("covalent==", "moto==")) for p in pins)
