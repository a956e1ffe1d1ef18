"""The ``eventbatch`` command: wires the subcommands of each part of the system.

``local`` comes from the local stack (localaws/), ``image`` and ``cleanup`` from the executor
(executor/), ``deploy`` and ``doctor`` from the control plane's tooling (controlplane/),
``status`` and ``logs`` from the read-only view of a dispatch (dispatchview/).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from .controlplane import cli as controlplane_cli
from .dispatchview import cli as dispatchview_cli
from .executor import cli as executor_cli
from .executor.errors import EventBatchError
from .localaws import cli as localaws_cli

_PARTS = (localaws_cli, executor_cli, controlplane_cli, dispatchview_cli)

_EPILOG = """\
examples:
  eventbatch local up            start the local stack and point covalent.conf at it
  eventbatch local status        show which parts of the local stack answer
  eventbatch local down          stop everything 'local up' started
  eventbatch local reclaim JOB   end a job's running attempt as a reclaimed Spot host does
  eventbatch image build         build and push the runtime image now, print its URI
  eventbatch cleanup DISPATCH_ID delete a finished dispatch's objects from S3
  eventbatch deploy              deploy the control plane to AWS, print [executors.awsbatch]
  eventbatch doctor              check the configured resources, permissions and Docker
  eventbatch status DISPATCH_ID  one row per electron: stage, times, attempts, usage (--watch)
  eventbatch logs DISPATCH_ID NODE_ID -f   an electron's container output, followed live
"""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eventbatch",
        description="Event-driven AWS Batch executor for Covalent: operator commands.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for part in _PARTS:
        part.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        for part in _PARTS:
            if args.command in part.COMMANDS:
                return part.main(args)
    except EventBatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2


if __name__ == "__main__":
    sys.exit(main())
