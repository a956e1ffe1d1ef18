"""Covalent's ``awsbatch`` executor: electrons run on AWS Batch, completion arrives as an event.

One electron, in order (each step in its own module):

1. ``storage``   cloudpickle (function, args, kwargs), to S3 (a small task that joins a pack
                 goes up in its pack's bundle instead: one object for the pack's tasks)
2. ``preparation`` the runtime image (``registry``: found in ECR by its content tag or built and
                 pushed once), the state machine and the job definition, once per process
3. ``packs``     electrons arriving together (within ``pack_window`` s) that would get the same
                 Batch job form a pack; a pack of one goes on alone
   ``workflow``  StartExecution of the state machine (named from dispatch and node: idempotent),
                 which registers or reuses the job definition and submits the Batch job; a pack
                 uploads a manifest and starts one execution that submits one array job
4. ``markers``   await the marker the Lambda writes when the EventBridge event arrives
5. ``storage``   the result and the task's stdout/stderr back to Covalent

Instance attributes are plain values (Covalent rebuilds executors from ``to_dict()``); AWS clients
and the marker watcher live in the process state (``process.state()``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import fields
from typing import Any

from covalent._shared_files.config import get_config
from covalent._shared_files.exceptions import TaskCancelledError, TaskRuntimeError
from covalent._shared_files.logger import app_log
from covalent.executor.base import AsyncBaseExecutor
from covalent.executor.utils import Signals

from . import console, contract, logs, packs, plugins, preparation, storage, workflow
from .aws import AwsClients, clients_for, explain_aws_error
from .cancel import cancel_execution, cancel_pack_member, stop_execution, stop_pack_member
from .errors import EventBatchError, TaskFailedError, WaitTimeoutError
from .layout import TaskLocation
from .outcome import describe_failure
from .process import state
from .settings import ExecutorSettings

EXECUTOR_PLUGIN_NAME = "AWSBatchExecutor"
_EXECUTOR_PLUGIN_DEFAULTS = ExecutorSettings().to_config()

log = logging.getLogger(__name__)


def warn_of_rivals() -> plugins.Rivalry | None:
    """One WARNING in Covalent's log when another installed plugin also registers 'awsbatch'."""
    try:
        found = plugins.rivalry()
    except Exception as exc:  # noqa: BLE001 - broken metadata must not keep the plugin from loading
        log.debug("could not read the installed plugins' metadata: %s", exc)
        return None
    if found is not None:
        app_log.warning(found.message())
    return found


# Covalent imports this module while it loads its plugins, once per process.
warn_of_rivals()

# What Covalent's BaseExecutor takes besides settings of ours (cache_dir and time_limit are ours).
COVALENT_ARGUMENTS = ("log_stdout", "log_stderr", "retries")

# Seconds to wait for the dispatcher's answer to an executor signal.
COVALENT_REPLY_TIMEOUT_S = 300


def wait_deadline(settings: ExecutorSettings) -> float:
    """Seconds after which a task is reported as stuck: every attempt's limit plus queueing."""
    return settings.retry_attempts * settings.time_limit + settings.queue_timeout


class AWSBatchExecutor(AsyncBaseExecutor):
    """Run electrons on AWS Batch, through a Step Functions state machine.

    Every argument is optional: ``None`` means "take it from the [executors.awsbatch] section
    of covalent.conf", and then from the default. Units: ``memory`` in GiB, ``time_limit``
    and ``poll_freq`` in seconds.

    Args:
        credentials: Path to an AWS shared credentials file.
        profile: Named profile in that file (or in ~/.aws/config).
        s3_bucket_name: Bucket for task payloads, results and completion markers.
        ecr_repo_name: ECR repository of the runtime image.
        batch_job_definition_name: Prefix of the job definitions (a content hash follows it).
        batch_queue: Batch job queue the tasks are submitted to.
        batch_execution_role_name: IAM role Batch uses to pull the image and write logs.
        batch_job_role_name: IAM role the task itself runs with.
        batch_job_log_group_name: CloudWatch Logs group of the containers' output.
        vcpu: vCPUs per task (whole numbers on EC2; 0.25 to 16 on Fargate).
        memory: Memory per task, in GiB.
        num_gpus: GPUs per task (EC2 only).
        retry_attempts: Attempts per job, 1 to 10; a task that raises is not retried unless
            ``retry_user_errors`` is set.
        time_limit: Seconds one attempt may run, at least 60.
        cache_dir: Local folder for payload files and image build contexts.
        poll_freq: Seconds between the slow checks for a completion event that got lost.
        region: AWS region (default: the profile's region, else us-east-1).
        state_machine_name: Name of the deployed state machine.
        s3_prefix: Key prefix of everything written to the bucket.
        base_image: Base of the runtime image (default python:X.Y-slim, X.Y of the dispatch).
        extra_pip_packages: Packages (list, or comma-separated) added to the runtime image.
        container_image_uri: A prebuilt runtime image; skips building entirely.
        platform: "EC2" or "FARGATE".
        endpoint_url: AWS endpoint override (the local stack).
        registry_endpoint: host:port of the registry images are pushed to instead of ECR's
            (the local stack).
        marker_interval: Seconds between listings of a dispatch's completion markers.
        retry_user_errors: Retry a task whose own code failed, too.
        queue_timeout: Seconds a job may wait for capacity (beyond its attempts' time limits)
            before the executor stops it and reports it as stuck.
        pack_window: Seconds to gather electrons that arrive together and would get the same
            Batch job into one array job (default 0.2); 0 submits each on its own.
    """

    def __init__(
        self,
        credentials: str | None = None,
        profile: str | None = None,
        s3_bucket_name: str | None = None,
        ecr_repo_name: str | None = None,
        batch_job_definition_name: str | None = None,
        batch_queue: str | None = None,
        batch_execution_role_name: str | None = None,
        batch_job_role_name: str | None = None,
        batch_job_log_group_name: str | None = None,
        vcpu: float | None = None,
        memory: float | None = None,
        num_gpus: int | None = None,
        retry_attempts: int | None = None,
        time_limit: int | None = None,
        cache_dir: str | None = None,
        poll_freq: float | None = None,
        region: str | None = None,
        state_machine_name: str | None = None,
        s3_prefix: str | None = None,
        base_image: str | None = None,
        extra_pip_packages: list[str] | str | None = None,
        container_image_uri: str | None = None,
        platform: str | None = None,
        endpoint_url: str | None = None,
        registry_endpoint: str | None = None,
        marker_interval: float | None = None,
        retry_user_errors: bool | None = None,
        queue_timeout: int | None = None,
        pack_window: float | None = None,
        **kwargs: Any,
    ) -> None:
        arguments = {k: v for k, v in locals().items() if k not in ("self", "kwargs", "__class__")}
        # Covalent's own executor arguments go to its base class; any other is refused by name.
        base_kwargs = {k: kwargs.pop(k) for k in COVALENT_ARGUMENTS if k in kwargs}
        settings = ExecutorSettings.resolve({**arguments, **kwargs}, config_section())
        super().__init__(**base_kwargs)
        for name, value in settings.to_config().items():
            setattr(self, name, value)

    @property
    def settings(self) -> ExecutorSettings:
        values = {f.name: getattr(self, f.name) for f in fields(ExecutorSettings)}
        return ExecutorSettings.resolve(values)

    async def run(
        self, function: Any, args: list[Any], kwargs: dict[str, Any], task_metadata: dict[str, Any]
    ) -> Any:
        called_at = time.monotonic()
        settings = self.settings
        clients = clients_for(settings)
        location = TaskLocation(
            settings.s3_bucket_name,
            settings.s3_prefix,
            task_metadata["dispatch_id"],
            int(task_metadata["node_id"]),
        )
        if await self._cancel_requested():
            raise TaskCancelledError("Cancelled before submission: nothing was sent to AWS.")
        pickled: storage.PickledTask | None = None
        try:
            # First: a task that cannot be pickled fails before anything else is done.
            pickled = await asyncio.to_thread(
                storage.PickledTask, (function, args, kwargs), settings.cache_dir
            )
            versions = await self._ask(Signals.GET, "version_info")
            prepared = await asyncio.to_thread(preparation.prepare, settings, clients, versions)
            may_pack = settings.pack_window > 0 and await self._state_machine_runs_packs(
                clients, prepared.state_machine_arn
            )
            # A small task may travel in its pack's bundle, unless the image is prebuilt: its
            # runner may be older than bundles.
            bundled = may_pack and pickled.small and not settings.container_image_uri
            if not bundled:
                await asyncio.to_thread(pickled.upload, clients, location.bucket, location.task_key)
            if await self._cancel_requested():
                raise TaskCancelledError("Cancelled before submission: no job was submitted.")
            packed = None  # a pack of one goes alone, as does every electron with no pack_window
            if may_pack:
                task = pickled.data() if bundled else None
                member = packs.Member(settings, clients, prepared, location, called_at, task)
                packed = await asyncio.wrap_future(packs.join(member))
                if packed is None and bundled:  # alone after all: its own task.pkl
                    await asyncio.to_thread(
                        pickled.upload, clients, location.bucket, location.task_key
                    )
            pickled.close()
            wake = state().wake_queue(clients)
            if packed is None:
                wake_url = await asyncio.to_thread(wake.url)
                payload = workflow.execution_input(
                    settings, location, prepared.job_definition, wake_url
                )
                execution = await asyncio.to_thread(
                    preparation.start, clients, prepared, location.execution_name, payload
                )
                handle: dict[str, Any] = {"execution_arn": execution.arn}
            else:
                execution = packed.execution
                wake_url = packed.wake_url
                handle = {"execution_arn": execution.arn, "array_index": packed.index}
            announce(location, execution, clients)
            await self._ask(Signals.PUT, ("job_handle", json.dumps(handle)))
            if await self._cancel_requested():  # it came while the pack gathered or started
                await self.cancel(task_metadata, handle)
                raise TaskCancelledError(f"Cancelled before its job ran ({execution.arn}).")
            marker = await self._await_marker(
                settings, clients, location, execution, prepared, packed, wake_url
            )
            if marker.get("status") != "SUCCEEDED" and await self._cancel_requested():
                raise TaskCancelledError(f"Cancelled: execution {execution.arn} was stopped.")
            return await asyncio.to_thread(self._collect, settings, clients, location, marker)
        except EventBatchError as exc:
            self._fail(str(exc))
        except Exception as exc:
            explained = explain_aws_error(exc, settings)
            if explained is None:
                raise
            self._fail(str(explained))
        finally:
            if pickled is not None:
                pickled.close()

    @staticmethod
    async def _state_machine_runs_packs(clients: AwsClients, state_machine_arn: str) -> bool:
        """False for a state machine deployed before packs: one execution per electron then."""
        # A kept answer needs no thread: a fan-out's electrons reach the gatherer no later.
        runs_packs = contract.known(state_machine_arn)
        if runs_packs is None:
            runs_packs = await asyncio.to_thread(contract.speaks_packs, clients, state_machine_arn)
        return runs_packs

    def _fail(self, message: str) -> None:
        print(message, file=self._task_stderr)
        raise TaskRuntimeError(message)

    async def _await_marker(
        self,
        settings: ExecutorSettings,
        clients: AwsClients,
        location: TaskLocation,
        execution: workflow.Execution,
        prepared: preparation.Prepared,
        packed: packs.Packed | None = None,
        wake_url: str | None = None,
    ) -> dict[str, Any]:
        future = state().markers.watch(
            clients,
            location.bucket,
            location.markers_prefix,
            location.marker_key,
            execution.arn,
            prepared.state_machine_arn,
            settings.marker_interval,
            settings.poll_freq,
            state().wake_queue(clients),
            wake_url,
        )
        deadline = wait_deadline(settings)
        try:
            return dict(await asyncio.wait_for(asyncio.wrap_future(future), timeout=deadline))
        except asyncio.TimeoutError:
            if packed is None:
                await asyncio.to_thread(stop_execution, clients, execution.arn, "deadline")
            else:  # its siblings may be fine: only its own child is stopped
                await asyncio.to_thread(
                    stop_pack_member, clients, execution.arn, packed.index, "deadline"
                )
            raise WaitTimeoutError(
                f"No completion for execution {execution.arn} after {deadline:.0f} s "
                f"({settings.retry_attempts} attempt(s) of at most {settings.time_limit} s plus "
                f"queue_timeout={settings.queue_timeout} s waiting for capacity); the execution "
                f"was stopped. Check that queue '{settings.batch_queue}' has a VALID, ENABLED "
                "compute environment with room for the task's vcpu/memory/num_gpus, or raise "
                "'queue_timeout'."
            ) from None
        finally:
            state().markers.forget(future)

    async def _ask(self, action: Signals, body: Any) -> Any:
        """Covalent's executor signals, with a patient wait for the answer.

        Covalent's own helpers (get_version_info, ...) give up after 5 s, which a dispatcher busy
        moving a large result exceeds; their late answer is then read by the next question.
        """
        self._notify(action, body)
        return await self._wait_for_response(timeout=COVALENT_REPLY_TIMEOUT_S)

    async def _cancel_requested(self) -> bool:
        return await self._ask(Signals.GET, "cancel_requested") is True

    def _collect(
        self,
        settings: ExecutorSettings,
        clients: AwsClients,
        location: TaskLocation,
        marker: dict[str, Any],
    ) -> Any:
        # A stored result means the task returned, whatever the marker says of what followed (an
        # announcement that never got through, a child killed after storing it): COMPLETED.
        outcome = storage.download_result(
            clients, location.bucket, location.result_key, settings.cache_dir
        )
        if outcome is not None:
            self._task_stdout.write(outcome["stdout"])
            self._task_stderr.write(outcome["stderr"])
            return outcome["result"]
        io = storage.read_json(clients, location.bucket, location.io_key)
        if io is None:
            # The runner never reported: the container's log is the only account left.
            io = {
                "log_tail": logs.tail(
                    clients, settings.batch_job_log_group_name, marker.get("log_stream")
                )
            }
        self._task_stdout.write(io.get("stdout", ""))
        self._task_stderr.write(io.get("stderr", ""))
        raise TaskFailedError(describe_failure(marker, io, settings.time_limit))

    async def cancel(self, task_metadata: dict[str, Any], job_handle: Any) -> bool:
        handle = json.loads(job_handle) if isinstance(job_handle, str) else job_handle
        if not handle or not handle.get("execution_arn"):
            return False
        settings = self.settings
        clients = clients_for(settings)
        if handle.get("array_index") is None:
            state().markers.hasten(execution_arn=handle["execution_arn"])
            return await asyncio.to_thread(cancel_execution, clients, handle["execution_arn"])
        location = TaskLocation(
            settings.s3_bucket_name,
            settings.s3_prefix,
            task_metadata["dispatch_id"],
            int(task_metadata["node_id"]),
        )
        state().markers.hasten(key=location.marker_key)
        return await asyncio.to_thread(
            cancel_pack_member,
            clients,
            handle["execution_arn"],
            int(handle["array_index"]),
            {"Bucket": location.bucket, "Key": location.marker_key},
        )


def announce(location: TaskLocation, execution: workflow.Execution, clients: AwsClients) -> None:
    """One line per electron in the dispatcher's log (Covalent's logger), linking its execution."""
    app_log.info(
        "awsbatch: dispatch %s node %s started execution %s: %s",
        location.dispatch_id,
        location.node_id,
        execution.name,
        console.execution_url(execution.arn, clients.region, clients.partition()),
    )


def config_section() -> dict[str, Any]:
    try:
        section = get_config("executors.awsbatch")
    except KeyError:
        return {}
    return dict(section) if isinstance(section, dict) else {}
