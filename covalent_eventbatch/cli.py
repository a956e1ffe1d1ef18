"""The ``eventbatch`` command: wires the subcommands of each part of the system.

``local`` comes from the local stack (localaws/), ``image`` and ``cleanup`` from the executor
(executor/), ``deploy`` and ``doctor`` from the control plane's tooling (controlplane/),
``status`` and ``logs`` from the read-only view of a dispatch (dispatchview/).

Every failure a user can fix ends here as one line on stderr, ``error: WHAT: FIX``, with exit
status 1 and no traceback: bad arguments (argparse), the product's own errors (EventBatchError,
whose messages name the setting) and AWS's (classified once by ``executor.awserrors``).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from botocore.exceptions import BotoCoreError, ClientError, ProfileNotFound


def _parts() -> tuple[Any, ...]:
    """The parts' command modules. Imported here, not above: importing Covalent can fail
    (covalent.conf's lock held by another process), and that too is one line, not a traceback.
    """
    from .controlplane import cli as controlplane_cli
    from .dispatchview import cli as dispatchview_cli
    from .executor import cli as executor_cli
    from .localaws import cli as localaws_cli

    return (localaws_cli, executor_cli, controlplane_cli, dispatchview_cli)


_EPILOG = """\
examples:
  eventbatch local up            start the local stack and point covalent.conf at it
  eventbatch local status        show which parts of the local stack answer
  eventbatch local down          stop everything 'local up' started
  eventbatch local reclaim JOB   end a job's running attempt as a reclaimed Spot host does
  eventbatch image build         build and push the runtime image now, print its URI
  eventbatch cleanup [DISPATCH_ID]  delete gone dispatchers' queues (and a dispatch's objects)
  eventbatch deploy              deploy the control plane to AWS, print [executors.awsbatch]
  eventbatch doctor              check the configured resources, permissions and Docker
  eventbatch status DISPATCH_ID  one row per electron: stage, times, attempts, usage (--watch)
  eventbatch logs DISPATCH_ID NODE_ID -f   an electron's container output, followed live
"""


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line naming the command's --help, exit status 1 (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        print(f"error: {self.prog}: {message} (see '{self.prog} --help')", file=sys.stderr)
        sys.exit(1)


def _parser(parts: tuple[Any, ...]) -> argparse.ArgumentParser:
    parser = _Parser(
        prog="eventbatch",
        description="Event-driven AWS Batch executor for Covalent: operator commands.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    for part in parts:
        part.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parts = _parts()
    except OSError as exc:  # filelock's Timeout is an OSError
        print(f"error: {exc}; run the command again", file=sys.stderr)
        return 1
    from .executor.errors import EventBatchError

    args = _parser(parts).parse_args(argv)
    try:
        for part in parts:
            if args.command in part.COMMANDS:
                return int(part.main(args))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (EventBatchError, ClientError, BotoCoreError, OSError) as exc:
        print(f"error: {error_line(exc, args)}", file=sys.stderr)
        return 1
    return 2


# --- errors as one line ---------------------------------------------------------------------

# Which policy grants what each command calls (README: IAM).
_POLICY_OF = {
    "deploy": "the deployer's policy, controlplane/deployer-policy.json",
    "doctor": "controlplane/executor-policy.json with its optional DoctorChecks statements",
    "status": "controlplane/executor-policy.json with its optional DispatchStatus statement",
    "logs": "controlplane/executor-policy.json (ReadJobLogs)",
}
_EXECUTOR_POLICY = "controlplane/executor-policy.json (or the stack's ExecutorPolicy)"
# The setting that names the resource an AWS "no such ..." error is about.
_MISSING = {
    "NoSuchBucket": ("S3 bucket", "s3_bucket_name"),
    "RepositoryNotFoundException": ("ECR repository", "ecr_repo_name"),
    "StateMachineDoesNotExist": ("state machine", "state_machine_name"),
}
_CONFIGURED = "set by --profile, --region, --endpoint-url, or [executors.awsbatch] in covalent.conf"


def error_line(exc: BaseException, args: argparse.Namespace) -> str:
    """What went wrong and how to fix it, in one line (the product's own errors as they are)."""
    from .executor.errors import EventBatchError

    if isinstance(exc, EventBatchError):
        return str(exc)
    if isinstance(exc, OSError) and not isinstance(exc, BotoCoreError):
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    settings = _settings(args)
    return aws_error_line(exc, args.command, settings)


def _settings(args: argparse.Namespace) -> Any:
    """The settings the command ran with (for naming them); None when they cannot be read."""
    from .executor.cli import configured_settings
    from .executor.errors import EventBatchError

    overrides = {k: getattr(args, k, None) for k in ("region", "profile", "endpoint_url")}
    try:
        return configured_settings(**overrides)
    except EventBatchError:
        return None


def aws_error_line(exc: BaseException, command: str, settings: Any) -> str:
    """One line for an error botocore raised, by its kind (executor.awserrors.classify)."""
    from .executor.awserrors import Kind, classify, error_code, error_message

    profile = getattr(settings, "profile", "") or ""
    who = f"profile '{profile}'" if profile else "the default credentials"
    endpoint = getattr(settings, "endpoint_url", "") or ""
    region = getattr(settings, "region", "") or "us-east-1"
    operation = getattr(exc, "operation_name", "") or "an AWS call"
    code = error_code(exc)
    kind = classify(exc)
    if kind is Kind.NO_CREDENTIALS:
        return _credentials_line(exc, settings, who)
    if kind is Kind.UNREACHABLE:
        target = getattr(exc, "kwargs", {}).get("endpoint_url") or endpoint or f"AWS ({region})"
        how = "timed out" if "timeout" in type(exc).__name__.lower() else "could not connect"
        fix = (
            "check 'endpoint_url' (for the local stack: 'eventbatch local up')"
            if endpoint
            else "check 'region'"
        )
        return (
            f"network problem: no answer from {target} ({how}: {type(exc).__name__}); check the "
            f"network (proxy, firewall, VPN), then {fix}"
        )
    if kind is Kind.NO_REGION:
        return "no AWS region: set 'region' in [executors.awsbatch] or pass --region"
    if kind is Kind.DENIED:
        policy = _POLICY_OF.get(command, _EXECUTOR_POLICY)
        return (
            f"{operation} was denied for {who} ({code}: {error_message(exc)}); grant it with "
            f"{policy}, or use credentials that have it"
        )
    if kind is Kind.MISSING:
        what, key = _MISSING.get(code, ("", ""))
        if key:
            name = getattr(settings, key, "") if settings is not None else ""
            return (
                f"{what} {name!r} does not exist in {region} ({operation}: {code}); set '{key}' "
                "in [executors.awsbatch] to the one 'eventbatch deploy' printed, or deploy the "
                "control plane ('eventbatch deploy --write-config')"
            )
        return (
            f"{operation}: {code}: {error_message(exc)}; check the names in "
            "[executors.awsbatch] ('eventbatch doctor' checks each)"
        )
    if kind is Kind.THROTTLED:
        return f"AWS throttled {operation} ({code}) after retries: wait a minute and run it again"
    if kind is Kind.SERVER:
        return f"AWS failed {operation} with a server error ({code}): run it again in a moment"
    if isinstance(exc, ClientError):
        return f"{operation} failed ({code}: {error_message(exc)})"
    return f"{exc} ({_CONFIGURED})"


def _credentials_line(exc: BaseException, settings: Any, who: str) -> str:
    from .executor.awserrors import error_code

    fix = (
        "set 'credentials' (the file) and 'profile' in [executors.awsbatch], pass --profile "
        "(deploy, doctor), or run 'aws configure'"
    )
    if isinstance(exc, ProfileNotFound):
        where = getattr(settings, "credentials", "") or "the AWS config files"
        return f"no AWS profile '{exc.kwargs.get('profile', '')}' in {where}: {fix}"
    if isinstance(exc, ClientError):
        return (
            f"AWS refused the credentials of {who} ({error_code(exc)}): they are wrong or have "
            f"expired; renew them (aws configure, aws sso login) or {fix}"
        )
    where = getattr(settings, "credentials", "") or "~/.aws/credentials"
    return (
        f"no AWS credentials found ({who}: not in {where}, the environment or an instance "
        f"role): {fix}"
    )


if __name__ == "__main__":
    sys.exit(main())
