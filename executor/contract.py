"""Which contract the deployed state machine speaks: whether it can run a pack.

A pack's execution input carries a manifest and asks for one array job; a state machine deployed
before packs has no branch for it and submits a plain job, whose single child then finds no
array index and every packed electron fails. So before packing, the executor reads the deployed
definition (DescribeStateMachine, which it already may call) and packs only when a state submits
an array job (``ArrayProperties`` in its parameters). Facing an older one, it runs each electron
in an execution of its own, as that state machine expects, and says once what to do about it.

The answer is kept for a short while per state machine: a redeployed one is seen within that.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from covalent._shared_files.logger import app_log

from .aws import AwsClients

# Covalent's logger: the warning goes to the dispatcher's log, where its user looks.
log = app_log
KEEP_S = 5.0
_lock = threading.Lock()


def _kept() -> tuple[dict[str, tuple[float, bool]], set[str]]:
    """The process's answers (per state machine: when, whether it runs packs) and warnings."""
    from . import process  # the process state imports the modules that import this one

    found = process.state()
    return found.pack_contracts, found.pack_contract_warnings


def submits_array_jobs(definition: dict[str, Any]) -> bool:
    """Whether some state of the definition (branches included) submits an array job."""

    def states(doc: dict[str, Any]) -> list[dict[str, Any]]:
        found = []
        for state in (doc.get("States") or {}).values():
            found.append(state)
            for branch in state.get("Branches") or []:
                found += states(branch)
            for key in ("Iterator", "ItemProcessor"):
                if isinstance(state.get(key), dict):
                    found += states(state[key])
        return found

    return any(
        key.removesuffix(".$") == "ArrayProperties"
        for state in states(definition)
        for key in (state.get("Parameters") or {})
    )


def known(state_machine_arn: str, clock: Any = time.monotonic) -> bool | None:
    """The kept answer of speaks_packs, or None when there is none fresh (no AWS call)."""
    known_answers, _ = _kept()
    with _lock:
        found = known_answers.get(state_machine_arn)
    return found[1] if found is not None and clock() - found[0] < KEEP_S else None


def learn(state_machine_arn: str, described: dict[str, Any], clock: Any = time.monotonic) -> None:
    """Keep the answer a DescribeStateMachine made for another reason gives, when it is yes
    (a no is left to speaks_packs, which also says what to do about it)."""
    try:
        packs = submits_array_jobs(json.loads(described["definition"]))
    except (KeyError, TypeError, ValueError):
        return
    if not packs:
        return
    known_answers, _ = _kept()
    with _lock:
        known_answers[state_machine_arn] = (clock(), packs)


def speaks_packs(clients: AwsClients, state_machine_arn: str, clock: Any = time.monotonic) -> bool:
    """Whether the deployed state machine runs packs; warns once when it does not.

    When its definition cannot be read, the answer is yes: packing stays the default, and the
    call that fails next says what is wrong.
    """
    now = clock()
    known_answers, warned = _kept()
    with _lock:
        known = known_answers.get(state_machine_arn)
        if known is not None and now - known[0] < KEEP_S:
            return known[1]
    try:
        described = clients.client("stepfunctions").describe_state_machine(
            stateMachineArn=state_machine_arn
        )
        packs = submits_array_jobs(json.loads(described["definition"]))
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.debug("could not read the definition of %s: %s", state_machine_arn, exc)
        packs = True
    with _lock:
        known_answers[state_machine_arn] = (now, packs)
        if packs:
            warned.discard(state_machine_arn)
        elif state_machine_arn not in warned:
            warned.add(state_machine_arn)
            log.warning(
                "state machine %s was deployed before packs (no array job branch): electrons "
                "run one execution each. Run 'eventbatch deploy' (or 'eventbatch local up' on "
                "the local stack) to update it and pack concurrent electrons again.",
                state_machine_arn,
            )
    return packs
