"""One boto3 session per set of credentials, one client per service.

Credentials come from the settings' credentials file and profile without touching the
process-wide environment (the dispatcher runs many executors side by side), and the region and
endpoint apply to every client, CloudWatch Logs included.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import boto3
import botocore.session
from botocore.config import Config

from .settings import ExecutorSettings

DEFAULT_REGION = "us-east-1"

# Standard retry mode backs off with jitter on throttling, which SubmitJob-heavy accounts hit.
_CLIENT_CONFIG = Config(retries={"max_attempts": 8, "mode": "standard"}, max_pool_connections=64)


class AwsClients:
    """Clients for one settings' credentials, region and endpoint; thread-safe and cached."""

    def __init__(
        self,
        credentials_file: str = "",
        profile: str = "",
        region: str = "",
        endpoint_url: str = "",
        user_agent_extra: str = "",
    ) -> None:
        """user_agent_extra names the caller in each request (CloudTrail shows it), e.g. the
        doctor, whose read-only calls the executor itself never needs."""
        core = botocore.session.Session()
        if credentials_file and os.path.exists(os.path.expanduser(credentials_file)):
            core.set_config_variable("credentials_file", os.path.expanduser(credentials_file))
        if profile:
            core.set_config_variable("profile", profile)
        self.session = boto3.session.Session(botocore_session=core)
        self.region = region or self.session.region_name or DEFAULT_REGION
        self.endpoint_url = endpoint_url or None
        self._config = (
            _CLIENT_CONFIG.merge(Config(user_agent_extra=user_agent_extra))
            if user_agent_extra
            else _CLIENT_CONFIG
        )
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._account: str | None = None
        self._account_lock = threading.Lock()

    def client(self, service: str) -> Any:
        with self._lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(
                    service,  # type: ignore[call-overload]
                    region_name=self.region,
                    endpoint_url=self.endpoint_url,
                    config=self._config,
                )
            return self._clients[service]

    def account_id(self) -> str:
        """The account of the credentials (asked once)."""
        with self._account_lock:  # concurrent first tasks ask once, not once each
            if self._account is None:
                self._account = str(self.client("sts").get_caller_identity()["Account"])
            return self._account

    def partition(self) -> str:
        return self.session.get_partition_for_region(self.region)


def clients_for(settings: ExecutorSettings) -> AwsClients:
    """The process-wide clients for these settings (executors are rebuilt per task)."""
    from .process import state  # the process state holds these clients and imports this module

    return state().clients_for(settings)


def explain_aws_error(exc: Exception, settings: ExecutorSettings) -> Exception | None:
    """An error whose message says what to fix, for the AWS failures a user can fix; else None."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        ProfileNotFound,
    )

    from .awserrors import error_code, error_message, is_denied
    from .errors import AwsSetupError

    if isinstance(exc, EndpointConnectionError):
        where = settings.endpoint_url or f"AWS in region '{settings.region or DEFAULT_REGION}'"
        return AwsSetupError(
            f"Cannot reach {where} ({exc}). Check 'endpoint_url' and 'region', and the network; "
            "for the local stack run 'eventbatch local up'."
        )
    if isinstance(exc, (NoCredentialsError, ProfileNotFound)):
        return AwsSetupError(
            f"No usable AWS credentials ({exc}). Set 'credentials' (a credentials file) and "
            "'profile' in [executors.awsbatch], or configure the default credential chain."
        )
    if isinstance(exc, NoRegionError):
        return AwsSetupError(f"No AWS region ({exc}). Set 'region' in [executors.awsbatch].")
    if isinstance(exc, ClientError):
        code, message = error_code(exc), error_message(exc)
        operation = getattr(exc, "operation_name", "an AWS call")
        if is_denied(exc):
            return AwsSetupError(
                f"{operation} was denied ({code}: {message}). Grant the executor's "
                "credentials the permissions listed in controlplane/executor-policy.json."
            )
        return AwsSetupError(f"{operation} failed ({code}: {message}).")
    return None
