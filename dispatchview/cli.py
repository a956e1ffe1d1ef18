"""``eventbatch status`` and ``eventbatch logs``: follow a dispatch from what AWS recorded.

Read-only: nothing here writes to AWS. Settings (credentials, region, bucket, state machine)
come from [executors.awsbatch] as the executor resolves them, so the commands work from any
machine with read access, while the dispatch runs or long after.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from covalent_eventbatch.executor.cli import dispatch_id_argument

COMMANDS = ("status", "logs")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0.1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give seconds from 0.1 to 3600")
    return value


def _node_id(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a node id (0, 1, ...: 'eventbatch status' lists them)"
        )
    return int(text)


def register(commands: Any) -> None:
    status = commands.add_parser(
        "status",
        help="one row per electron of a dispatch: stage, times, attempts, outcome, usage",
        description="Stages come from the Step Functions executions, the Batch jobs and the "
        "completion markers; resource-seconds are requested resources x running time, "
        "dollars are estimates.",
    )
    status.add_argument("dispatch_id", metavar="DISPATCH_ID", type=dispatch_id_argument)
    shown = status.add_mutually_exclusive_group()
    shown.add_argument("--watch", action="store_true", help="refresh until the dispatch ends")
    shown.add_argument("--json", action="store_true", help="print the status as JSON")
    status.add_argument(
        "--interval", type=_seconds, default=2.0, help="seconds between refreshes (--watch)"
    )
    status.add_argument(
        "--no-names",
        action="store_true",
        help="do not ask Covalent's dispatcher for the electrons' names",
    )

    logs = commands.add_parser(
        "logs",
        help="an electron's container output from CloudWatch Logs, every attempt",
    )
    logs.add_argument("dispatch_id", metavar="DISPATCH_ID", type=dispatch_id_argument)
    logs.add_argument("node_id", metavar="NODE_ID", type=_node_id)
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until it ends")


def _reader(dispatch_id: str) -> Any:
    from covalent_eventbatch.executor.aws import command_clients
    from covalent_eventbatch.executor.cli import configured_settings

    from .reads import DispatchReader

    settings = configured_settings()
    return DispatchReader(settings, command_clients(settings), dispatch_id)


def watch_dispatch(
    dispatch_id: str, interval: float = 2.0, names: bool = True, console: Any = None
) -> Any:
    """Show a dispatch's electrons live until it ends; the last DispatchStatus (also the demo's)."""
    from .dispatcher import CovalentDispatch
    from .watch import watch

    reader = _reader(dispatch_id)
    covalent = CovalentDispatch(dispatch_id, enabled=names)
    return watch(reader, reader.settings, covalent, console=console, interval=interval)


def main(args: argparse.Namespace) -> int:
    reader = _reader(args.dispatch_id)
    if args.command == "logs":
        from .logs import print_logs

        return print_logs(reader, args.node_id, args.follow)

    from rich.console import Console

    from .dispatcher import CovalentDispatch
    from .render import as_json, links, table
    from .watch import current_status

    if args.watch:
        try:
            watch_dispatch(args.dispatch_id, args.interval, names=not args.no_names)
        except KeyboardInterrupt:
            return 130
        return 0
    covalent = CovalentDispatch(args.dispatch_id, enabled=not args.no_names)
    status = current_status(reader, reader.settings, covalent)
    if args.json:
        sys.stdout.write(as_json(status) + "\n")
    else:
        console = Console()
        console.print(table(status))
        for line in links(status):
            console.print(line, soft_wrap=True, style="dim", highlight=False)
    return 0
