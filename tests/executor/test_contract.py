"""Which contract the deployed state machine speaks (executor/contract.py), on moto's Step
Functions: today's definition packs; one deployed before packs does not, and says so once."""

from __future__ import annotations

import json
import logging

import boto3
import pytest

from covalent_eventbatch.executor import contract, process
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.statemachine.definition import build_definition
from tests.statemachine.before_packs import definition_before_packs


def test_only_a_definition_with_an_array_job_branch_runs_packs() -> None:
    assert contract.submits_array_jobs(build_definition("aws"))
    assert not contract.submits_array_jobs(definition_before_packs("aws"))


@pytest.fixture
def machines(moto_aws: None) -> tuple[AwsClients, str, str]:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    sfn = boto3.client("stepfunctions")
    arns = [
        sfn.create_state_machine(name=name, definition=json.dumps(doc), roleArn=role)[
            "stateMachineArn"
        ]
        for name, doc in (("today", build_definition()), ("older", definition_before_packs()))
    ]
    process.state().reset()
    return AwsClients("", "", "us-east-1", None), arns[0], arns[1]


class _Recorded(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_older_state_machine_is_told_once_and_rechecked_after_a_while(
    machines: tuple[AwsClients, str, str],
) -> None:
    clients, today, older = machines
    now = [0.0]
    recorded = _Recorded()
    # Covalent's logger (the dispatcher's log): its level is Covalent's configured one, which
    # other tests of the session change, and a level change leaves a cached "disabled" behind.
    level, disabled = contract.log.level, contract.log.disabled
    contract.log.setLevel(logging.WARNING)
    contract.log.disabled = False
    contract.log.addHandler(recorded)
    try:
        assert contract.known(older, clock=lambda: now[0]) is None
        assert contract.speaks_packs(clients, today, clock=lambda: now[0])
        assert not contract.speaks_packs(clients, older, clock=lambda: now[0])
        assert contract.known(older, clock=lambda: now[0]) is False  # kept, no call
        now[0] += contract.KEEP_S + 1
        assert contract.known(older, clock=lambda: now[0]) is None
        assert not contract.speaks_packs(clients, older, clock=lambda: now[0])
    finally:
        contract.log.removeHandler(recorded)
        contract.log.setLevel(level)
        contract.log.disabled = disabled
    warnings = [r.getMessage() for r in recorded.records]
    assert len(warnings) == 1
    assert "deployed before packs" in warnings[0] and "eventbatch deploy" in warnings[0]
    assert older in warnings[0]

    # Redeployed: packs again, once the kept answer has aged.
    boto3.client("stepfunctions").update_state_machine(
        stateMachineArn=older, definition=json.dumps(build_definition())
    )
    now[0] += contract.KEEP_S + 1
    assert contract.speaks_packs(clients, older, clock=lambda: now[0])


def test_an_unreadable_definition_keeps_packing(machines: tuple[AwsClients, str, str]) -> None:
    clients, today, _ = machines
    assert contract.speaks_packs(clients, today.replace(":today", ":missing"))
