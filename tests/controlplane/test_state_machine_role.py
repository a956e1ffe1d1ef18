"""The state machine's role grants what AWS documents for each of its Task states, and no more.

Step Functions calls the integrated services with the state machine's role. For each Task state
of ``statemachine/definition.py`` this lists the authorizations AWS documents for its integration
("IAM policies for AWS Batch" and "for Amazon EventBridge" in the Step Functions guide, and the
Batch service authorization reference for the aws-sdk integrations), on the resources the
execution input names, and evaluates them against the role in ``controlplane/template.py`` as
IAM would. Statements no Task state needs fail too.
"""

from __future__ import annotations

import pytest

from covalent_eventbatch.controlplane import template
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.localaws import iamcheck, policies
from covalent_eventbatch.statemachine.definition import build_definition

REGION, ACCOUNT = "us-east-1", "123456789012"
SETTINGS = ExecutorSettings.resolve({})
NAMES = policies.LocalNames(SETTINGS, "aws", REGION, ACCOUNT)


def _arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT}:{resource}"


DEFINITION = _arn("batch", f"job-definition/{SETTINGS.batch_job_definition_name}-0123abcd")
JOB = _arn("batch", "job/8a9b0c1d-0000-4000-8000-000000000000")
ROLES = [
    NAMES.role_arn(SETTINGS.batch_job_role_name),
    NAMES.role_arn(SETTINGS.batch_execution_role_name),
]

# Integration (the Task state's Resource after arn:PARTITION:states:::) -> what AWS authorizes.
DOCUMENTED: dict[str, list[iamcheck.Need]] = {
    # .sync: submit, follow and (when the execution stops) terminate the job; the managed rule
    # that tells Step Functions of the job's state changes.
    "batch:submitJob.sync": [
        iamcheck.Need("batch:SubmitJob", DEFINITION + ":1"),
        iamcheck.Need("batch:SubmitJob", _arn("batch", f"job-queue/{SETTINGS.batch_queue}")),
        # The new job: the service authorization reference lists it among SubmitJob's resource
        # types (Batch's policy examples name only the definition and the queue).
        iamcheck.Need("batch:SubmitJob", JOB),
        iamcheck.Need("batch:TagResource", JOB),  # Tags at submission
        iamcheck.Need("batch:DescribeJobs", "*"),
        iamcheck.Need("batch:TerminateJob", JOB),
        *[
            iamcheck.Need(action, _arn("events", "rule/StepFunctionsGetEventsForBatchJobsRule"))
            for action in ("events:PutTargets", "events:PutRule", "events:DescribeRule")
        ],
    ],
    "aws-sdk:batch:describeJobDefinitions": [iamcheck.Need("batch:DescribeJobDefinitions", "*")],
    "aws-sdk:batch:registerJobDefinition": [
        iamcheck.Need("batch:RegisterJobDefinition", DEFINITION),
        iamcheck.Need("batch:TagResource", DEFINITION),  # Tags at registration
        *[iamcheck.Need("iam:PassRole", role) for role in ROLES],  # roles the definition names
    ],
    "events:putEvents": [iamcheck.Need("events:PutEvents", _arn("events", "event-bus/default"))],
}


def _role_policy() -> list[dict]:
    role = template.state_machine_resources()["StateMachineRole"]
    return list(policies.policies_of_role(role, NAMES).values())


def _task_states() -> dict[str, str]:
    states = build_definition("aws")["States"]
    prefix = "arn:aws:states:::"
    return {
        name: state["Resource"].removeprefix(prefix)
        for name, state in states.items()
        if state["Type"] == "Task"
    }


def test_every_task_state_uses_a_documented_integration():
    assert set(_task_states().values()) <= set(DOCUMENTED), _task_states()


@pytest.mark.parametrize("state", sorted(_task_states()))
def test_the_role_grants_what_the_integration_needs(state):
    documents = _role_policy()
    denied = [
        need
        for need in DOCUMENTED[_task_states()[state]]
        if iamcheck.evaluate(documents, need) is None
    ]
    assert denied == []


def test_no_statement_beyond_what_the_task_states_need():
    documents = _role_policy()
    needed = [n for integration in set(_task_states().values()) for n in DOCUMENTED[integration]]
    for document in documents:
        for statement in document["Statement"]:
            actions = iamcheck.listed(statement["Action"])
            for action in actions:
                assert any(
                    iamcheck.statement_applies({**statement, "Action": action}, n) for n in needed
                ), f"{statement['Sid']}: {action} is needed by no Task state"
            resources = iamcheck.listed(statement["Resource"])
            for resource in resources:
                assert any(
                    iamcheck.statement_applies({**statement, "Resource": resource}, n)
                    for n in needed
                ), f"{statement['Sid']}: {resource} is needed by no Task state"


def test_the_role_does_not_reach_other_names():
    documents = _role_policy()
    for need in (
        iamcheck.Need("batch:RegisterJobDefinition", _arn("batch", "job-definition/other")),
        iamcheck.Need("batch:SubmitJob", _arn("batch", "job-queue/other-queue")),
        iamcheck.Need("iam:PassRole", NAMES.role_arn("AdminRole")),
        iamcheck.Need("events:PutEvents", _arn("events", "event-bus/other")),
    ):
        assert iamcheck.evaluate(documents, need) is None, need
