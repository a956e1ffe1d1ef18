"""What preflight reports: a problem and the parameter to change; stopping before CloudFormation."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from covalent_eventbatch.executor.awserrors import Kind

from ..errors import DeployError

Say = Callable[[str], None]

# Not allowed to ask: refused, or credentials the service does not accept.
NOT_ALLOWED = (Kind.DENIED, Kind.NO_CREDENTIALS)


@dataclass(frozen=True)
class Problem:
    """Why CloudFormation would refuse or fail, and the parameter (or option) to change."""

    parameter: str
    reason: str


def stop_if(problems: list[Problem], stack: str) -> None:
    """Raise one DeployError listing every problem, before anything is created."""
    if not problems:
        return
    if len(problems) == 1:
        raise DeployError(
            f"Not deploying stack {stack} (nothing was created): {problems[0].parameter}: "
            f"{problems[0].reason}; change it and run 'eventbatch deploy' again"
        )
    lines = "\n".join(f"  - {p.parameter}: {p.reason}" for p in problems)
    raise DeployError(
        f"Not deploying stack {stack}: CloudFormation would refuse it or fail half way. "
        f"Nothing was created. Change these and run 'eventbatch deploy' again:\n{lines}"
    )
