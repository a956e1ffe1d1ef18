"""Two processes building the same runtime image: the repository's tags are immutable (the
stack's template), so the second push is refused, and the image the first pushed is used.

Building and pushing are replaced (no Docker engine in a unit test); ECR is moto's.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from covalent_eventbatch.executor import registry
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.errors import ImageError
from covalent_eventbatch.executor.image import ImageSpec

SPEC = ImageSpec("python:3.11-slim", "3.11", "0.240.0", "3.1.3")
REPO = "runtime-images"
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "x", "size": 1, "digest": "sha256:" + "0" * 64},
        "layers": [],
    }
)


@pytest.fixture
def clients(moto_aws: None, monkeypatch: pytest.MonkeyPatch) -> AwsClients:
    boto3.client("ecr").create_repository(repositoryName=REPO, imageTagMutability="IMMUTABLE")
    monkeypatch.setattr(registry, "_docker_client", lambda: object())
    monkeypatch.setattr(registry, "_build", lambda *_: None)
    monkeypatch.setattr(registry, "_ecr_login", lambda _: {})
    return AwsClients(region="us-east-1")


def _refused_push(other_pushed_first: bool) -> Any:
    def push(*_: Any) -> None:
        if other_pushed_first:
            boto3.client("ecr").put_image(
                repositoryName=REPO, imageTag=SPEC.tag, imageManifest=MANIFEST
            )
        raise ImageError(
            f"Pushing {SPEC.tag} failed: tag invalid: The image tag '{SPEC.tag}' already exists "
            "and cannot be overwritten because the repository is immutable."
        )

    return push


def test_a_push_refused_because_another_process_pushed_the_tag_uses_that_image(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(registry, "push", _refused_push(other_pushed_first=True))
    monkeypatch.setattr(registry, "prepare_context", lambda *_: tmp_path)
    lines: list[str] = []
    uri = registry.ensure_image(clients, SPEC, REPO, str(tmp_path), progress=lines.append)
    assert uri.endswith(f"/{REPO}:{SPEC.tag}")
    assert lines[-1].endswith("was pushed meanwhile by another process")


def test_a_push_that_fails_otherwise_still_fails(
    clients: AwsClients, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    monkeypatch.setattr(registry, "push", _refused_push(other_pushed_first=False))
    monkeypatch.setattr(registry, "prepare_context", lambda *_: tmp_path)
    with pytest.raises(ImageError, match="cannot be overwritten"):
        registry.ensure_image(clients, SPEC, REPO, str(tmp_path), progress=lambda _: None)
