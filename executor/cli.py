"""The executor's own ``eventbatch`` subcommands: build the runtime image, clean up dispatches
and the wake-up queues of dispatcher processes that are gone."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .settings import ExecutorSettings

COMMANDS = ("image", "cleanup")

# Covalent's dispatch ids are UUIDs; any id is a folder name in S3 keys, so no '/' (an empty or
# '..' id would make 'cleanup' reach past one dispatch).
_DISPATCH_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def dispatch_id_argument(text: str) -> str:
    """An argparse type: a dispatch id as Covalent prints it."""
    if not _DISPATCH_ID.match(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a dispatch id (Covalent prints ids like "
            "2c2b3b1e-5b5a-4f47-9b61-0a3f6a4d1c2e)"
        )
    return text


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
        help="delete the wake-up queues of dispatchers that are gone, and finished dispatches' "
        "task objects and markers from S3",
        description="Always deletes the SQS wake-up queues left by dispatcher processes that "
        "ended without closing them (killed, crashed); a running dispatcher's queue is kept. "
        "With DISPATCH_IDs, also deletes those dispatches' objects from S3.",
    )
    cleanup.add_argument(
        "dispatch_ids", nargs="*", metavar="DISPATCH_ID", type=dispatch_id_argument
    )


def main(args: argparse.Namespace) -> int:
    if args.command == "image":
        return _image_build(args)
    return _cleanup(args)


def configured_settings(**overrides: object) -> ExecutorSettings:
    """Settings as the executor resolves them: ``overrides`` > covalent.conf > defaults."""
    from .awsbatch import config_section

    return ExecutorSettings.resolve(overrides, config_section())


@contextlib.contextmanager
def progress(what: str) -> Iterator[Callable[[str], None]]:
    """A function that says one line of progress, on stderr (stdout is the command's result):
    plain lines, and on a terminal a spinner under them too, with the latest line."""
    if not sys.stderr.isatty():
        yield lambda line: print(line, file=sys.stderr, flush=True)
        return
    from rich.console import Console

    console = Console(stderr=True)
    with console.status(what) as status:

        def say(line: str) -> None:
            console.print(line, highlight=False, markup=False, soft_wrap=True)
            status.update(f"{what}: {line[:70]}")

        yield say


def _image_build(args: argparse.Namespace) -> int:
    from .aws import command_clients
    from .preparation import runtime_image

    settings = configured_settings(extra_pip_packages=args.extra_pip_packages)
    clients = command_clients(settings)
    started = time.monotonic()
    with progress("runtime image") as say:
        say("checking the runtime image")
        uri = runtime_image(settings, clients, {}, progress=say)
    print(f"ready in {time.monotonic() - started:.1f} s", file=sys.stderr)
    print(uri)
    return 0


def _cleanup(args: argparse.Namespace) -> int:
    from .aws import command_clients
    from .awserrors import is_denied
    from .layout import dispatch_prefixes
    from .storage import delete_prefixes
    from .wakeups import PERMISSIONS, remove_abandoned

    settings = configured_settings()
    clients = command_clients(settings)
    try:
        removed = remove_abandoned(clients)
    except Exception as exc:
        if not is_denied(exc) or not args.dispatch_ids:
            raise
        # Credentials for S3 only: the dispatches asked for are still cleaned up.
        print(f"wake-up queues not checked: denied ({', '.join(PERMISSIONS)})", file=sys.stderr)
        removed = []
    for url, why in removed:
        print(f"deleted wake-up queue {url}: {why}")
    print(f"{len(removed)} abandoned wake-up queue(s) deleted")
    for dispatch_id in args.dispatch_ids:
        count = delete_prefixes(
            clients, settings.s3_bucket_name, dispatch_prefixes(settings.s3_prefix, dispatch_id)
        )
        print(f"{dispatch_id}: deleted {count} objects from s3://{settings.s3_bucket_name}")
    return 0
