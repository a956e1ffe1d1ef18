"""Make sure the runtime image is in ECR: look it up by tag, else build and push it once.

The dispatcher host needs no Docker engine when the tag is already in the repository (or when
``container_image_uri`` names a prebuilt image). A build is guarded per tag within the process,
so fifty electrons starting together build once.

With ``registry_endpoint`` set (the local stack), images are pushed to that registry instead of
ECR's, and recorded in the ECR API with PutImage so that the same lookup finds them.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from .aws import AwsClients
from .awserrors import error_code
from .errors import AwsSetupError, ImageError
from .image import ImageSpec, prepare_context

log = logging.getLogger(__name__)

# Called with one human-readable line of build or push progress.
ProgressFn = Callable[[str], None]

_build_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()
_MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.oci.image.manifest.v1+json"
)


def repository_uri(clients: AwsClients, repo: str, registry_endpoint: str = "") -> str:
    ecr = clients.client("ecr")
    try:
        found = ecr.describe_repositories(repositoryNames=[repo])
    except ecr.exceptions.RepositoryNotFoundException as exc:
        raise AwsSetupError(
            f"ECR repository '{repo}' does not exist in {clients.region} ({error_code(exc)}). "
            "Create it (aws ecr create-repository --repository-name "
            f"{repo}) or set 'ecr_repo_name'."
        ) from None
    if registry_endpoint:
        return f"{registry_endpoint}/{repo}"
    return str(found["repositories"][0]["repositoryUri"])


def image_exists(clients: AwsClients, repo: str, tag: str) -> bool:
    ecr = clients.client("ecr")
    try:
        ecr.describe_images(repositoryName=repo, imageIds=[{"imageTag": tag}])
        return True
    except ecr.exceptions.ImageNotFoundException:
        return False


def ensure_image(
    clients: AwsClients,
    spec: ImageSpec,
    repo: str,
    cache_dir: str,
    registry_endpoint: str = "",
    progress: ProgressFn | None = None,
) -> str:
    """Return the URI of the runtime image for spec, building and pushing it if it is missing."""
    say = progress or (lambda line: log.info("%s", line))
    target = f"{repository_uri(clients, repo, registry_endpoint)}:{spec.tag}"
    if image_exists(clients, repo, spec.tag):
        return target
    with _lock_for(spec.tag):
        if image_exists(clients, repo, spec.tag):
            return target
        say(f"Building runtime image {target}")
        docker = _docker_client()
        say(f"Gathering the packages for Python {spec.python_version} (a wheelhouse, kept)")
        context = prepare_context(spec, cache_dir)
        _build(docker, str(context), target, spec.platform, say)
        auth = None if registry_endpoint else _ecr_login(clients)
        try:
            push(docker, target, auth, say)
            if registry_endpoint:
                _record_in_ecr(clients, repo, spec.tag, registry_endpoint)
        except (ImageError, ClientError):
            # The stack's repository has immutable tags: when another process pushed this
            # content tag first, its push wins and ours is refused; the image is the same.
            if not image_exists(clients, repo, spec.tag):
                raise
            say(f"{target} was pushed meanwhile by another process")
            return target
        say(f"Pushed {target}")
    return target


def _lock_for(tag: str) -> threading.Lock:
    with _locks_guard:
        return _build_locks.setdefault(tag, threading.Lock())


def _docker_client() -> Any:
    import docker

    try:
        client = docker.from_env()
        client.ping()
        return client
    except Exception as exc:  # docker raises several unrelated types when no engine answers
        raise ImageError(
            "The runtime image must be built, but no Docker engine answers "
            f"({exc}). Start Docker (or set DOCKER_HOST), or set 'container_image_uri' "
            "to a prebuilt image (see 'eventbatch image build')."
        ) from None


def _build(docker: Any, context: str, target: str, platform: str, say: ProgressFn) -> None:
    stream = docker.api.build(
        path=context, tag=target, platform=platform, rm=True, pull=False, decode=True
    )
    for chunk in stream:
        if "error" in chunk:
            raise ImageError(f"Building the runtime image failed: {chunk['error'].strip()}")
        line = (chunk.get("stream") or "").strip()
        if line.startswith("Step "):
            say(line)


def _ecr_login(clients: AwsClients) -> dict[str, str]:
    data = clients.client("ecr").get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    return {"username": user, "password": password}


# Seconds between two lines of push progress (bytes sent), so that logs stay readable.
_PUSH_REPORT_S = 5.0


def push(
    docker: Any,
    target: str,
    auth: dict[str, str] | None,
    say: ProgressFn,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Push, saying each layer as it is done (n of all) and, every few seconds, the bytes sent."""
    repo, _, tag = target.rpartition(":")
    layers: dict[str, str] = {}  # layer -> its last status
    sent: dict[str, tuple[int, int]] = {}  # layer -> (bytes sent, size)
    reported = clock()
    for chunk in docker.api.push(repo, tag=tag, auth_config=auth, stream=True, decode=True):
        if "error" in chunk:
            raise ImageError(
                f"Pushing {target} failed: {chunk['error'].strip()}. Check that the "
                "credentials may push to the repository (ecr:InitiateLayerUpload, ...)."
            )
        layer, status = chunk.get("id"), chunk.get("status", "")
        if not layer or layer == tag:
            continue
        detail = chunk.get("progressDetail") or {}
        if status == "Pushing" and detail.get("total"):
            sent[layer] = (int(detail.get("current", 0)), int(detail["total"]))
        if _layer_done(status) and layers.get(layer) != status:
            layers[layer] = status
            finished = sum(1 for s in layers.values() if _layer_done(s))
            say(f"layer {layer}: {status} ({finished} of {len(layers)} layers)")
        elif not _layer_done(layers.get(layer, "")):
            layers[layer] = status
        if sent and clock() - reported >= _PUSH_REPORT_S:
            reported = clock()
            current = sum(c for c, _ in sent.values()) / 1e6
            total = sum(t for _, t in sent.values()) / 1e6
            say(f"pushing: {current:.0f} of {total:.0f} MB of the layers being sent")


def _layer_done(status: str) -> bool:
    return status in ("Pushed", "Layer already exists") or status.startswith("Mounted from")


def _record_in_ecr(clients: AwsClients, repo: str, tag: str, registry_endpoint: str) -> None:
    request = urllib.request.Request(
        f"http://{registry_endpoint}/v2/{repo}/manifests/{tag}",
        headers={"Accept": _MANIFEST_TYPES},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        manifest = response.read().decode()
        media_type = response.headers.get("Content-Type", "")
    clients.client("ecr").put_image(
        repositoryName=repo,
        imageTag=tag,
        imageManifest=manifest,
        imageManifestMediaType=media_type or json.loads(manifest).get("mediaType", ""),
    )
