"""The ``eventbatch deploy`` and ``eventbatch doctor`` subcommands (arguments and output)."""

from __future__ import annotations

import argparse
from typing import Any

from covalent_eventbatch.executor import names
from covalent_eventbatch.executor.cli import configured_settings
from covalent_eventbatch.executor.errors import InvalidSettingError
from covalent_eventbatch.executor.settings import ExecutorSettings

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
        command.add_argument("--region", help="AWS region (default: the configured one)")
        command.add_argument("--profile", help="credentials profile (default: the configured one)")
        command.add_argument("--endpoint-url", help="AWS endpoint (the local stack)")


_DOCTOR_HELP = (
    "check credentials, region, each configured resource, permissions and Docker; "
    "exit status 0 when nothing failed"
)


def _settings(args: argparse.Namespace) -> ExecutorSettings:
    return configured_settings(
        region=args.region, profile=args.profile, endpoint_url=args.endpoint_url
    )


def main(args: argparse.Namespace) -> int:
    from covalent_eventbatch.executor.aws import AwsClients

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

    clients = AwsClients(
        settings.credentials, settings.profile, settings.region, settings.endpoint_url
    )
    parameters = {}
    for item in args.parameter:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidSettingError("--parameter", item, "use KEY=VALUE")
        parameters[key] = value
    outputs = deploy.deploy(
        clients,
        stack=args.stack_name,
        parameters=parameters,
        artifacts_bucket=args.artifact_bucket,
        stage=args.stage,
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
