"""Each AWS-side component of the local stack calls with its own role's credentials, as on AWS.

On AWS the state machine's service integrations call with its role's credentials and a Batch
job's container gets its job role's credentials. moto (5.2.5) instead has its Step Functions
interpreter sign every call with the fixed key "ak", and gives a container no credentials at
all. These patches, in the moto server process, give both temporary credentials of the role
(assumed in moto's own STS), so that each request is attributable to its role
(``localaws/callrecorder.py``) and checkable against that role's policy:

- the interpreter's clients use the credentials of the role its Task state runs with (the
  execution's role, or the state's ``Credentials``);
- a job whose definition names a ``jobRoleArn`` gets that role's credentials in its container's
  environment (in place of AWS's container credentials endpoint).
"""

from __future__ import annotations

import re
import threading
from typing import Any

_CREDENTIAL_VARIABLES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
_SESSION_SECONDS = 12 * 3600
_lock = threading.Lock()
_sessions: dict[str, Any] = {}
_applied = False


def role_session(role_arn: str, region: str = "us-east-1") -> Any:
    """Temporary credentials of the role from moto's STS (one session per role, kept)."""
    from moto.sts.models import sts_backends

    with _lock:
        session = _sessions.get(role_arn)
        if session is None:
            found = re.match(r"arn:[^:]+:iam::(\d+):role/", role_arn)
            account = found.group(1) if found else "123456789012"
            session = sts_backends[account]["aws"].assume_role(
                region_name=region,
                role_session_name="eventbatch-local",
                role_arn=role_arn,
                policy=None,  # type: ignore[arg-type]  # moto's own default
                duration=_SESSION_SECONDS,
                external_id=None,  # type: ignore[arg-type]
            )
            _sessions[role_arn] = session
        return session


def _patch_state_machine_clients() -> None:
    import boto3
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_aws_sdk,
        state_task_service_batch,
        state_task_service_events,
    )
    from moto.stepfunctions.parser.asl.utils import boto_client as moto_boto_client

    original = moto_boto_client.boto_client_for
    clients: dict[tuple[str, str, str], Any] = {}

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        role_arn = getattr(state_credentials, "role_arn", None)
        if not role_arn or moto_boto_client.botocore_stubber.enabled:
            return original(region=region, service=service, state_credentials=state_credentials)
        with _lock:
            client = clients.get((role_arn, region, service))
        if client is None:
            template = original(region=region, service=service)  # moto's endpoint and config
            session = role_session(role_arn, region)
            client = boto3.client(  # type: ignore[call-overload]
                service_name=service,
                region_name=region,
                endpoint_url=template.meta.endpoint_url,
                config=template.meta.config,
                aws_access_key_id=session.access_key_id,
                aws_secret_access_key=session.secret_access_key,
                aws_session_token=session.session_token,
            )
            with _lock:
                clients[(role_arn, region, service)] = client
        return client

    for module in (state_task_service_aws_sdk, state_task_service_batch, state_task_service_events):
        module.boto_client_for = boto_client_for  # type: ignore[attr-defined]  # each imported the function by name


def _patch_job_containers() -> None:
    from moto.batch.models import Job

    original = Job._get_container_property

    def _get_container_property(self: Any, p: str, default: Any) -> Any:
        value = original(self, p, default)
        if p != "environment":
            return value
        properties = self.job_definition.container_properties or {}
        role_arn = properties.get("jobRoleArn")
        if not role_arn:
            return value
        session = role_session(role_arn)
        # In place: moto returns (and keeps) the job's own override list.
        value[:] = [e for e in value if e.get("name") not in _CREDENTIAL_VARIABLES] + [
            {"name": "AWS_ACCESS_KEY_ID", "value": session.access_key_id},
            {"name": "AWS_SECRET_ACCESS_KEY", "value": session.secret_access_key},
            {"name": "AWS_SESSION_TOKEN", "value": session.session_token},
        ]
        return value

    Job._get_container_property = _get_container_property  # type: ignore[method-assign]


def apply() -> None:
    """Give the state machine and the job containers their roles' credentials (idempotent)."""
    global _applied
    if _applied:
        return
    _patch_state_machine_clients()
    _patch_job_containers()
    _applied = True
