"""What every task of a settings/version combination shares, found once per process.

The bucket is checked, the runtime image found (or built), the state machine checked and the job
definition composed once; the first tasks of a dispatch, which start together, wait for one of
them to do it. Starting an execution goes through the process's definition gate, so that tasks
sharing a new job definition register it once.
"""

from __future__ import annotations

import sys
from typing import Any

import cloudpickle

from . import contract, process, registry, storage, workflow
from .aws import AwsClients
from .image import ImageSpec, default_base_image
from .names import state_machine_arn
from .settings import ExecutorSettings


class Prepared:
    """What every task of a settings/version combination shares, found once per process."""

    def __init__(self, state_machine_arn: str, job_definition: dict[str, Any]) -> None:
        self.state_machine_arn = state_machine_arn
        self.job_definition = job_definition


def start(
    clients: AwsClients, prepared: Prepared, name: str, payload: dict[str, Any]
) -> workflow.Execution:
    gate = process.state().definition_gate
    definition_name = prepared.job_definition["JobDefinitionName"]
    if not gate.claim(definition_name):
        return workflow.start_execution(clients, prepared.state_machine_arn, name, payload)
    execution = None
    try:
        execution = workflow.start_execution(clients, prepared.state_machine_arn, name, payload)
    finally:
        gate.settle(definition_name, clients, execution.arn if execution else None)
    return execution


def prepare(settings: ExecutorSettings, clients: AwsClients, versions: dict[str, Any]) -> Prepared:
    # The electrons of a dispatch start together: without this, each of them would repeat the
    # bucket check and the image lookup before the first one had cached them.
    key = (id(clients), settings.s3_bucket_name, settings.ecr_repo_name)
    with process.state().prepare_lock(key):
        return _prepare_once(settings, clients, versions)


def _prepare_once(
    settings: ExecutorSettings, clients: AwsClients, versions: dict[str, Any]
) -> Prepared:
    shared = process.state()
    if (id(clients), settings.s3_bucket_name) not in shared.checked_buckets:
        storage.check_bucket(clients, settings.s3_bucket_name)
        shared.checked_buckets.add((id(clients), settings.s3_bucket_name))
    image_uri = settings.container_image_uri or runtime_image(settings, clients, versions)
    partition, account = clients.partition(), clients.account_id()
    machine = state_machine_arn(partition, clients.region, account, settings.state_machine_name)
    if machine not in shared.checked_machines:
        described = workflow.check_state_machine(clients, machine)
        contract.learn(machine, described)  # the first pack need not ask again
        shared.checked_machines.add(machine)
    return Prepared(
        machine, workflow.job_definition(settings, image_uri, partition, account, clients.region)
    )


def runtime_image(
    settings: ExecutorSettings,
    clients: AwsClients,
    versions: dict[str, Any],
    progress: registry.ProgressFn | None = None,
) -> str:
    python = ".".join(str(versions.get("python") or sys.version).split(".")[:2])
    covalent = str(versions.get("covalent") or _installed_covalent())
    spec = ImageSpec(
        base_image=settings.base_image or default_base_image(python),
        python_version=python,
        covalent_version=covalent,
        cloudpickle_version=cloudpickle.__version__,
        extra_packages=settings.extra_pip_packages,
    )
    key = (spec.tag, settings.ecr_repo_name, settings.registry_endpoint)
    image_uris = process.state().image_uris
    if key not in image_uris:
        image_uris[key] = registry.ensure_image(
            clients,
            spec,
            settings.ecr_repo_name,
            settings.cache_dir,
            settings.registry_endpoint,
            progress,
        )
    return image_uris[key]


def _installed_covalent() -> str:
    from importlib.metadata import version

    return version("covalent")
