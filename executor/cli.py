"""The ``eventbatch`` command: the local stack, the runtime image, clean-up."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from . import cli_deploy
from .errors import EventBatchError
from .settings import ExecutorSettings

_EPILOG = """\
examples:
  eventbatch local up            start the local stack and point covalent.conf at it
  eventbatch local status        show which parts of the local stack answer
  eventbatch local down          stop everything 'local up' started
  eventbatch image build         build and push the runtime image now, print its URI
  eventbatch cleanup DISPATCH_ID delete a finished dispatch's objects from S3
  eventbatch deploy              deploy the control plane to AWS, print [executors.awsbatch]
  eventbatch doctor              check the configured resources, permissions and Docker
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventbatch",
        description="Event-driven AWS Batch executor for Covalent: operator commands.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    local = commands.add_parser(
        "local",
        help="run the local stack that stands in for AWS",
        description="moto server, Docker engine, registry and the event relay, on this machine.",
    )
    local_commands = local.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = local_commands.add_parser(
        "up",
        help="start and provision the local stack (idempotent)",
        description=(
            "Start the Docker engine (when none answers and you are root), a registry, moto "
            "server and the relay; create the bucket, repository, queue, state machine and "
            "event rules; write [executors.awsbatch] to covalent.conf."
        ),
    )
    up.add_argument("--moto-port", type=int, help="port of moto server (default 5055)")
    up.add_argument("--registry-port", type=int, help="port of the registry (default 5056)")
    up.add_argument(
        "--no-config", action="store_true", help="do not write covalent.conf's [executors.awsbatch]"
    )
    local_commands.add_parser("down", help="stop every part 'local up' started")
    local_commands.add_parser("status", help="show which parts answer")

    image = commands.add_parser("image", help="the runtime image")
    image_commands = image.add_subparsers(dest="action", metavar="ACTION", required=True)
    build = image_commands.add_parser(
        "build",
        help="build and push the runtime image for this Python and Covalent; print its URI",
        description="Uses the [executors.awsbatch] settings; set container_image_uri to the "
        "printed URI to run dispatchers on hosts without Docker.",
    )
    build.add_argument("--extra-pip-packages", default=None, help="comma-separated packages")

    cleanup = commands.add_parser(
        "cleanup",
        help="delete a finished dispatch's task objects and markers from S3",
    )
    cleanup.add_argument("dispatch_ids", nargs="+", metavar="DISPATCH_ID")
    cli_deploy.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "local":
            return _local(args)
        if args.command == "image":
            return _image_build(args)
        if args.command == "cleanup":
            return _cleanup(args)
        if args.command in cli_deploy.COMMANDS:
            return cli_deploy.main(args)
    except EventBatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2


def _local(args: argparse.Namespace) -> int:
    from .local import stack

    if args.action == "up":
        stack.up(args.moto_port, args.registry_port, write_config=not args.no_config)
        print("local stack is up")
        return 0
    if args.action == "down":
        stack.down()
        print("local stack is down")
        return 0
    healthy = True
    for name, ok, detail in stack.status():
        healthy &= ok
        print(f"{'up  ' if ok else 'DOWN'}  {name:14} {detail}")
    return 0 if healthy else 1


def _configured_settings(**overrides: object) -> ExecutorSettings:
    from .awsbatch import _config_section

    return ExecutorSettings.resolve(overrides, _config_section())


def _image_build(args: argparse.Namespace) -> int:
    from .aws import clients_for
    from .awsbatch import _runtime_image

    settings = _configured_settings(extra_pip_packages=args.extra_pip_packages)
    clients = clients_for(settings)
    started = time.monotonic()
    if sys.stderr.isatty():
        from rich.console import Console

        with Console(stderr=True).status("checking the runtime image") as status:
            uri = _runtime_image(settings, clients, {}, progress=status.update)
    else:
        uri = _runtime_image(
            settings, clients, {}, progress=lambda line: print(line, file=sys.stderr, flush=True)
        )
    print(f"ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(uri)
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from .aws import clients_for
    from .layout import dispatch_prefixes
    from .storage import delete_prefixes

    settings = _configured_settings()
    clients = clients_for(settings)
    for dispatch_id in args.dispatch_ids:
        count = delete_prefixes(
            clients, settings.s3_bucket_name, dispatch_prefixes(settings.s3_prefix, dispatch_id)
        )
        print(f"{dispatch_id}: deleted {count} objects from s3://{settings.s3_bucket_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
