"""The handlers record events of their own state machine only (checked at run time)."""

from __future__ import annotations

import pytest

from covalent_eventbatch.chalice_app import app as lambda_app

OURS = "arn:aws:states:us-east-1:111122223333:stateMachine:covalent-eventbatch"
THEIRS = "arn:aws:states:us-east-1:111122223333:stateMachine:someone-else"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    monkeypatch.delenv("EVENTBATCH_STATE_MACHINE_ARN", raising=False)
    monkeypatch.delenv("EVENTBATCH_STATE_MACHINE_NAME", raising=False)


def test_execution_arn_names_its_state_machine():
    execution = "arn:aws:states:us-east-1:111122223333:execution:covalent-eventbatch:d-1"
    assert lambda_app.state_machine_of_execution(execution) == OURS
    assert lambda_app.state_machine_of_execution("not an arn") is None
    assert lambda_app.state_machine_of_execution(None) is None


def test_exact_arn_wins_when_deployed_by_cloudformation(monkeypatch):
    monkeypatch.setenv("EVENTBATCH_STATE_MACHINE_ARN", OURS)
    assert lambda_app.ours(OURS)
    assert not lambda_app.ours(THEIRS)
    # Same name in another account or region is not ours either.
    assert not lambda_app.ours(OURS.replace("111122223333", "444455556666"))


def test_name_decides_without_an_arn(monkeypatch):
    assert lambda_app.ours(OURS)  # the default name
    assert not lambda_app.ours(THEIRS)
    monkeypatch.setenv("EVENTBATCH_STATE_MACHINE_NAME", "someone-else")
    assert lambda_app.ours(THEIRS)
    assert not lambda_app.ours(OURS)
    assert not lambda_app.ours(None)


def test_rule_pattern_narrows_by_name_suffix():
    detail = lambda_app.EXECUTION_PATTERN["detail"]
    assert detail["stateMachineArn"] == [{"suffix": ":stateMachine:covalent-eventbatch"}]
