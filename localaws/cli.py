"""The ``eventbatch local`` subcommands: start, check and stop the local stack."""

from __future__ import annotations

import argparse
from typing import Any

COMMANDS = ("local",)


def _port(text: str) -> int:
    if not text.isdigit() or not 1024 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1024 to 65535")
    return int(text)


def register(commands: Any) -> None:
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
    up.add_argument("--moto-port", type=_port, help="port of moto server (default 5055)")
    up.add_argument("--registry-port", type=_port, help="port of the registry (default 5056)")
    up.add_argument(
        "--no-config", action="store_true", help="do not write covalent.conf's [executors.awsbatch]"
    )
    local_commands.add_parser("down", help="stop every part 'local up' started")
    local_commands.add_parser("status", help="show which parts answer")
    reclaim = local_commands.add_parser(
        "reclaim",
        help="end a running job's attempt as a reclaimed Spot host does",
        description=(
            "The attempt ends with AWS's status reason 'Host EC2 (instance i-...) terminated.' "
            "and no exit code; the job's retry rules decide whether it runs again."
        ),
    )
    reclaim.add_argument("job_id", metavar="JOB_ID", help="a job, or an array child PARENT:INDEX")


def main(args: argparse.Namespace) -> int:
    from . import stack

    if args.action == "up":
        stack.up(args.moto_port, args.registry_port, write_config=not args.no_config)
        print("local stack is up")
        return 0
    if args.action == "reclaim":
        from .reclaim import ReclaimError, reclaim

        batch = stack.admin_clients(stack.StackState.load()).client("batch")
        try:
            print(f"{args.job_id}: {reclaim(batch, args.job_id)}")
        except ReclaimError as exc:
            print(f"eventbatch local reclaim: {exc}")
            return 1
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
