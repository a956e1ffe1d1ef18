"""Matching a role's policies the way IAM matches Action and Resource (controlplane/rolecheck)."""

from __future__ import annotations

import json

import boto3

from covalent_eventbatch.controlplane.rolecheck import allows, role_documents

BUS = "arn:aws:events:us-east-1:123456789012:event-bus/default"


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def test_actions_and_resources_match_with_wildcards_and_a_deny_wins() -> None:
    allow = {"Effect": "Allow", "Action": "events:Put*", "Resource": "arn:aws:events:*"}
    assert allows([_doc(allow)], "events:PutEvents", BUS)
    assert allows([_doc({**allow, "Action": ["EVENTS:putevents"]})], "events:PutEvents", BUS)
    assert not allows(
        [_doc({**allow, "Resource": "arn:aws:events:*:*:event-bus/other"})], "events:PutEvents", BUS
    )
    assert not allows([_doc({**allow, "Action": "s3:*"})], "events:PutEvents", BUS)
    deny = {"Effect": "Deny", "Action": "*", "Resource": "*"}
    assert not allows([_doc(allow), _doc(deny)], "events:PutEvents", BUS)
    assert not allows([], "events:PutEvents", BUS)


def test_inline_and_attached_policies_are_read(moto_aws: None) -> None:
    iam = boto3.client("iam")
    iam.create_role(RoleName="job", AssumeRolePolicyDocument="{}")
    iam.put_role_policy(
        RoleName="job",
        PolicyName="inline",
        PolicyDocument=json.dumps(
            _doc({"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"})
        ),
    )
    arn = iam.create_policy(
        PolicyName="announce",
        PolicyDocument=json.dumps(
            _doc({"Effect": "Allow", "Action": "events:PutEvents", "Resource": BUS})
        ),
    )["Policy"]["Arn"]
    assert not allows(role_documents(iam, "job"), "events:PutEvents", BUS)
    iam.attach_role_policy(RoleName="job", PolicyArn=arn)
    documents = role_documents(iam, "job")
    assert len(documents) == 2
    assert allows(documents, "events:PutEvents", BUS)


def test_documents_in_every_form_iam_or_moto_returns() -> None:
    from covalent_eventbatch.controlplane.rolecheck import document

    doc = _doc({"Effect": "Allow", "Action": "events:PutEvents", "Resource": BUS})
    assert document(doc) == doc
    assert document(json.dumps(doc).replace(":", "%3A")) == doc  # URL-encoded JSON
    assert document(repr(doc)) == doc  # moto's CloudFormation


def test_the_doctor_skips_the_check_when_iam_answers_what_cannot_be_read() -> None:
    """moto's CloudFormation roles make its GetRolePolicy answer a 500 page: not checked."""
    from types import SimpleNamespace

    from botocore.parsers import ResponseParserError

    from covalent_eventbatch.controlplane import doctor
    from covalent_eventbatch.executor.settings import ExecutorSettings

    class _Iam:
        def get_role(self, RoleName: str) -> dict:  # noqa: N803 - boto3's name
            return {"Role": {"Arn": f"arn:aws:iam::123456789012:role/{RoleName}"}}

        def simulate_principal_policy(self, **_: object) -> dict:
            raise NotImplementedError("no simulator")

        def get_paginator(self, name: str) -> object:
            raise ResponseParserError("invalid XML received")

    clients = SimpleNamespace(
        client=lambda service: _Iam(),
        partition=lambda: "aws",
        region="us-east-1",
        account_id=lambda: "123456789012",
    )
    checker = doctor.Doctor(ExecutorSettings(region="us-east-1"), clients)  # type: ignore[arg-type]
    checker.job_role_announces()
    [check] = checker.checks
    assert check.status == doctor.SKIP and "not checked" in check.detail
