"""The ``eventbatch deploy`` and ``eventbatch doctor`` subcommands (arguments and output)."""

from __future__ import annotations

import argparse
import re
from typing import Any

from covalent_eventbatch.executor import names
from covalent_eventbatch.executor.cli import configured_settings, progress
from covalent_eventbatch.executor.settings import ExecutorSettings

from .errors import DeployError

COMMANDS = ("deploy", "doctor")


def register(commands: Any) -> None:
    deploy = commands.add_parser(
        "deploy",
        help="deploy the control plane to AWS with CloudFormation; print [executors.awsbatch]",
        description="Checks the parameters and the account (names taken, existing resources, "
        "network) and stops before CloudFormation starts if AWS would refuse; packages the "
        "Lambda with Chalice, merges in the rest of the control plane (state machine, bucket, "
        "ECR repository, roles, optional Batch compute), deploys the stack and prints the "
        "[executors.awsbatch] values its outputs give. No parameter is required: resource names "
        "are generated per stack. Credentials, region and endpoint come from "
        "[executors.awsbatch] unless given here.",
    )
    deploy.add_argument("--stack-name", default=names.DEFAULT_STACK, help="CloudFormation stack")
    deploy.add_argument(
        "--parameter",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="template parameter, e.g. -p ComputeEnvironment=FARGATE -p SubnetIds=subnet-1,"
        "subnet-2 (see controlplane/control-plane.json for all)",
    )
    deploy.add_argument("--artifact-bucket", default="", help="bucket for the Lambda code")
    deploy.add_argument("--stage", default="dev", help="Chalice stage (default dev)")
    deploy.add_argument(
        "--write-config", action="store_true", help="write the values to covalent.conf"
    )
    for command in (deploy, commands.add_parser("doctor", help=_DOCTOR_HELP)):
        command.add_argument(
            "--region", type=_region, help="AWS region (default: the configured one)"
        )
        command.add_argument("--profile", help="credentials profile (default: the configured one)")
        command.add_argument("--endpoint-url", help="AWS endpoint (the local stack)")


# us-east-1, eu-central-2, us-gov-west-1, cn-north-1, ...
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")


def _region(text: str) -> str:
    if not _REGION.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not an AWS region name (e.g. us-east-1)")
    return text


_DOCTOR_HELP = (
    "check credentials, region, each configured resource, permissions and Docker; "
    "exit status 0 when nothing failed"
)


def _settings(args: argparse.Namespace) -> ExecutorSettings:
    return configured_settings(
        region=args.region, profile=args.profile, endpoint_url=args.endpoint_url
    )


def _parameters(args: argparse.Namespace) -> dict[str, str]:
    """The -p KEY=VALUE pairs, checked against the template before any AWS call."""
    from . import preflight

    parameters = {}
    for item in args.parameter:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DeployError(
                f"-p {item}: give a template parameter as KEY=VALUE, e.g. -p SubnetIds=subnet-1"
            )
        parameters[key] = value
    problems = preflight.check_stack_name(args.stack_name) + preflight.check_given(parameters)
    if args.artifact_bucket:
        problems += preflight.check_artifact_bucket(args.artifact_bucket)
    preflight.stop_if(problems, args.stack_name)
    return parameters


def main(args: argparse.Namespace) -> int:
    from covalent_eventbatch.executor.aws import command_clients

    parameters = _parameters(args) if args.command == "deploy" else {}
    settings = _settings(args)
    if args.command == "doctor":
        from .doctor import FAIL, exit_status, run

        checks = run(settings)
        for check in checks:
            print(check.line())
        failed = sum(c.status == FAIL for c in checks)
        print(f"{failed} of {len(checks)} checks failed" if failed else "no check failed")
        return exit_status(checks)

    from . import deploy

    clients = command_clients(settings)
    with progress(f"deploying stack {args.stack_name}") as say:
        outputs = deploy.deploy(
            clients,
            stack=args.stack_name,
            parameters=parameters,
            artifacts_bucket=args.artifact_bucket,
            stage=args.stage,
            say=say,
        )
    values = deploy.settings_from_outputs(outputs)
    if settings.endpoint_url:
        values["endpoint_url"] = settings.endpoint_url
    print(deploy.config_section(values))
    if "ExecutorPolicyArn" in outputs:
        print(f"# attach {outputs['ExecutorPolicyArn']} to the users or roles that dispatch")
    if args.write_config:
        print(f"# wrote [executors.awsbatch] to {deploy.write_config(values)}")
    return 0
