"""The Step Functions side of a task: the execution input, and starting or stopping it.

The execution input carries everything the state machine needs, so the state machine stays
generic: the job definition's content (its name is a hash of that content, so tasks with the
same image and roles share one ACTIVE definition), the per-task overrides, retry rules, time
limit, and where the Lambda must write the marker.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from ..container.runner import ANNOUNCE_ENV, TASK_URI_ENV
from ..statemachine.definition import SUBMIT_STATES
from .aws import AwsClients
from .awserrors import error_code
from .errors import AwsSetupError
from .layout import TaskLocation, safe_name, short_hash
from .names import APPLICATION_TAG, execution_arn, role_arn
from .settings import ExecutorSettings

RUNNER_COMMAND = ["python", "-m", "eventbatch_runner"]
# The top-level fields of an execution input (a single electron's, or a pack's with Manifest):
# read by the state machine's paths and by the Lambda, from the execution status event.
EXECUTION_INPUT_FIELDS = ("Marker", "Manifest", "Task", "JobDefinition", "Job")
# A single electron's announcement (the container's EVENTBATCH_ANNOUNCE): what a pack's manifest
# tells each child, for one electron (container/runner.py reads it as manifest and entry).
ANNOUNCE_FIELDS = ("marker", "execution_arn", "report_failures_on_attempt", "resources")
# The runner exits 1 when the task raises and the task's own code on sys.exit: any exit code
# means the user's code ran to its end, so by default it is not retried. Platform failures
# (a reclaimed host, an image that could not be pulled, ...) have no exit code and are.
_RETRY_PLATFORM_FAILURES = [
    {"OnStatusReason": "Host EC2*", "Action": "RETRY"},
    {"OnReason": "CannotPullContainerError*", "Action": "RETRY"},
    {"OnExitCode": "*", "Action": "EXIT"},
    {"OnReason": "*", "Action": "RETRY"},
]
_DEFINITION_RESOURCES = {
    "EC2": [{"Type": "VCPU", "Value": "1"}, {"Type": "MEMORY", "Value": "2048"}],
    "FARGATE": [{"Type": "VCPU", "Value": "0.25"}, {"Type": "MEMORY", "Value": "512"}],
}


@dataclass(frozen=True)
class Execution:
    arn: str
    name: str


def resource_requirements(settings: ExecutorSettings) -> list[dict[str, str]]:
    requirements = [
        {"Type": "VCPU", "Value": settings.vcpu_text},
        {"Type": "MEMORY", "Value": str(settings.memory_mib)},
    ]
    if settings.num_gpus:
        requirements.append({"Type": "GPU", "Value": str(settings.num_gpus)})
    return requirements


def report_failures_on_attempt(settings: ExecutorSettings) -> int:
    """The attempt from which a container announces its task's failure: Batch retries none
    after it (the retry rules below retry the user's failures only with retry_user_errors)."""
    return settings.retry_attempts if settings.retry_user_errors else 1


def _is_loopback(endpoint_url: str) -> bool:
    host = urlparse(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def container_environment(settings: ExecutorSettings, region: str) -> list[dict[str, str]]:
    env = [{"Name": "AWS_DEFAULT_REGION", "Value": region}]
    if settings.endpoint_url and _is_loopback(settings.endpoint_url):
        # Local stack only: the container reaches moto on the host's loopback. Credentials are
        # the job role's, from the platform, on AWS and on the local stack alike.
        env.append({"Name": "AWS_ENDPOINT_URL", "Value": settings.endpoint_url})
    return env


def job_definition(
    settings: ExecutorSettings, image_uri: str, partition: str, account: str, region: str
) -> dict[str, Any]:
    """The job definition as RegisterJobDefinition takes it, named by a hash of its content."""
    container: dict[str, Any] = {
        "Image": image_uri,
        "Command": RUNNER_COMMAND,
        "JobRoleArn": role_arn(partition, account, settings.batch_job_role_name),
        "ExecutionRoleArn": role_arn(partition, account, settings.batch_execution_role_name),
        # Batch requires resources on the definition; they are fixed (the smallest valid ones)
        # so that tasks of any size share it, and each task's own size comes as an override.
        "ResourceRequirements": _DEFINITION_RESOURCES[settings.platform],
        "Environment": container_environment(settings, region),
        "LogConfiguration": {
            "LogDriver": "awslogs",
            "Options": {
                "awslogs-group": settings.batch_job_log_group_name,
                "awslogs-region": region,
                "awslogs-stream-prefix": "covalent",
            },
        },
    }
    if settings.platform == "FARGATE":
        container["NetworkConfiguration"] = {"AssignPublicIp": "ENABLED"}
        container["FargatePlatformConfiguration"] = {"PlatformVersion": "LATEST"}
    content = {"PlatformCapabilities": [settings.platform], "ContainerProperties": container}
    digest = short_hash(json.dumps(content, sort_keys=True))
    return {
        "JobDefinitionName": safe_name(settings.batch_job_definition_name, digest, limit=128),
        **content,
        "Tags": dict(APPLICATION_TAG),
    }


def retry_strategy(settings: ExecutorSettings) -> dict[str, Any]:
    rules = _RETRY_PLATFORM_FAILURES
    if settings.retry_user_errors:
        rules = [r for r in rules if r.get("OnExitCode") != "*"]
    return {"Attempts": settings.retry_attempts, "EvaluateOnExit": rules}


def marker_location(bucket: str, key: str, wake_url: str | None) -> dict[str, str]:
    """Where the marker goes and, with Wake, the queue the Lambda wakes once it is written."""
    location = {"Bucket": bucket, "Key": key}
    if wake_url:
        location["Wake"] = wake_url
    return location


def execution_input(
    settings: ExecutorSettings,
    location: TaskLocation,
    definition: dict[str, Any],
    wake_url: str | None = None,
) -> dict[str, Any]:
    marker = marker_location(location.bucket, location.marker_key, wake_url)
    # What the container announces its task with; start_execution completes it (_announced_as).
    announcement = {
        "marker": marker,
        "execution_arn": None,
        "report_failures_on_attempt": report_failures_on_attempt(settings),
        "resources": resource_requirements(settings),
    }
    return {
        "Marker": marker,
        "Task": {"DispatchId": location.dispatch_id, "NodeId": location.node_id},
        "JobDefinition": definition,
        "Job": {
            "JobName": location.job_name,
            "JobQueue": settings.batch_queue,
            "ContainerOverrides": {
                "ResourceRequirements": resource_requirements(settings),
                # Overrides, not the definition's environment: its name is a hash of its content.
                "Environment": [
                    {"Name": TASK_URI_ENV, "Value": f"s3://{location.bucket}/{location.task_dir}"},
                    {"Name": ANNOUNCE_ENV, "Value": _compact(announcement)},
                ],
            },
            "RetryStrategy": retry_strategy(settings),
            "Timeout": {"AttemptDurationSeconds": settings.time_limit},
            "Tags": {
                "covalent-dispatch-id": location.dispatch_id,
                "covalent-node-id": str(location.node_id),
            },
        },
    }


def _compact(document: dict[str, Any]) -> str:
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def _announced_as(payload: dict[str, Any], arn: str) -> str:
    """The input as started: its container announces as execution arn, with its Marker whole.

    Completed only now: the execution's name is final only once started (renamed when it
    exists), and the input's Marker may have gained keys since execution_input, which the Lambda
    must get from either announcer. A payload without an announcement (a pack's) is unchanged.
    """
    payload = json.loads(json.dumps(payload))  # the caller's stays as it was
    for variable in payload.get("Job", {}).get("ContainerOverrides", {}).get("Environment", []):
        if variable.get("Name") == ANNOUNCE_ENV:
            announcement = json.loads(variable["Value"])
            announcement.update(marker=payload["Marker"], execution_arn=arn)
            variable["Value"] = _compact(announcement)
    return json.dumps(payload, sort_keys=True)


def _missing_state_machine(arn: str, code: str) -> AwsSetupError:
    return AwsSetupError(
        f"State machine {arn} does not exist ({code}). Deploy the control plane ('eventbatch "
        "deploy', or 'eventbatch local up' for the local stack) or set 'state_machine_name'."
    )


def check_state_machine(clients: AwsClients, arn: str) -> dict[str, Any]:
    """Fail before anything is uploaded when the state machine is missing; its description."""
    sfn = clients.client("stepfunctions")
    try:
        return dict(sfn.describe_state_machine(stateMachineArn=arn))
    except sfn.exceptions.StateMachineDoesNotExist as exc:
        raise _missing_state_machine(arn, error_code(exc)) from None


def start_execution(
    clients: AwsClients, state_machine_arn: str, name: str, payload: dict[str, Any]
) -> Execution:
    """Start (or find, when it already runs with the same input) the task's execution."""
    sfn = clients.client("stepfunctions")
    body = _announced_as(payload, execution_arn(state_machine_arn, name))
    try:
        started = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=body)
    except sfn.exceptions.StateMachineDoesNotExist as exc:
        raise _missing_state_machine(state_machine_arn, error_code(exc)) from None
    except sfn.exceptions.ExecutionAlreadyExists:
        # Same electron, different input (a new image, say): keep both, distinctly named, the
        # container announcing under the new name.
        name = safe_name(name, short_hash(body, 8))
        body = _announced_as(payload, execution_arn(state_machine_arn, name))
        started = sfn.start_execution(stateMachineArn=state_machine_arn, name=name, input=body)
    return Execution(arn=str(started["executionArn"]), name=name)


class DefinitionGate:
    """Lets one execution register a new job definition before others of the process start.

    Executions of tasks that share a job definition all look for it before registering it; if
    they start together before it exists, each registers a revision. So per definition name the
    first task starts alone and the others wait until its execution has passed registration (read
    from its history, a few calls once per definition and process). Names already settled pass
    straight through.
    """

    def __init__(self, poll_s: float = 0.2, limit_s: float = 120.0) -> None:
        self._lock = threading.Lock()
        self._settled: dict[str, threading.Event] = {}
        self._poll_s = poll_s
        self._limit_s = limit_s

    def claim(self, name: str) -> bool:
        """True when the caller is first and must call settle(); else waits for the first."""
        with self._lock:
            event = self._settled.get(name)
            if event is None:
                self._settled[name] = threading.Event()
                return True
        event.wait(self._limit_s)
        return False

    def settle(self, name: str, clients: AwsClients | None, execution_arn: str | None) -> None:
        """Wait until the execution is past registration (or ended), then release the others."""
        try:
            if clients is not None and execution_arn:
                self._wait_past_registration(clients, execution_arn)
        finally:
            with self._lock:
                event = self._settled[name]
                if execution_arn is None:
                    del self._settled[name]  # the first never started: let the next one try
            event.set()

    def _wait_past_registration(self, clients: AwsClients, execution_arn: str) -> None:
        sfn = clients.client("stepfunctions")
        deadline = time.monotonic() + self._limit_s
        while time.monotonic() < deadline:
            events = sfn.get_execution_history(
                executionArn=execution_arn, reverseOrder=True, maxResults=50
            )["events"]
            for event in events:
                entered = event.get("stateEnteredEventDetails", {}).get("name")
                if (
                    entered in SUBMIT_STATES
                    or event["type"].startswith("Execution")
                    and event["type"] != "ExecutionStarted"
                ):
                    return
            time.sleep(self._poll_s)
