"""The executor's own ``eventbatch`` subcommands: build the runtime image, clean up a dispatch."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from .settings import ExecutorSettings

COMMANDS = ("image", "cleanup")


def register(commands: Any) -> None:
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


def main(args: argparse.Namespace) -> int:
    if args.command == "image":
        return _image_build(args)
    return _cleanup(args)


def configured_settings(**overrides: object) -> ExecutorSettings:
    """Settings as the executor resolves them: ``overrides`` > covalent.conf > defaults."""
    from .awsbatch import config_section

    return ExecutorSettings.resolve(overrides, config_section())


def _image_build(args: argparse.Namespace) -> int:
    from .aws import clients_for
    from .preparation import runtime_image

    settings = configured_settings(extra_pip_packages=args.extra_pip_packages)
    clients = clients_for(settings)
    started = time.monotonic()
    if sys.stderr.isatty():
        from rich.console import Console

        with Console(stderr=True).status("checking the runtime image") as status:
            uri = runtime_image(settings, clients, {}, progress=status.update)
    else:
        uri = runtime_image(
            settings, clients, {}, progress=lambda line: print(line, file=sys.stderr, flush=True)
        )
    print(f"ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(uri)
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from .aws import clients_for
    from .layout import dispatch_prefixes
    from .storage import delete_prefixes

    settings = configured_settings()
    clients = clients_for(settings)
    for dispatch_id in args.dispatch_ids:
        count = delete_prefixes(
            clients, settings.s3_bucket_name, dispatch_prefixes(settings.s3_prefix, dispatch_id)
        )
        print(f"{dispatch_id}: deleted {count} objects from s3://{settings.s3_bucket_name}")
    return 0
