"""``eventbatch doctor`` on the local stack: each missing or unusable resource gets its line.

Resources are made missing by pointing one setting at a name that does not exist (the shared
local stack is left intact), or by creating a broken one (a disabled queue, an outdated state
machine) next to the real ones.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from covalent_eventbatch.cli import main
from covalent_eventbatch.controlplane import doctor
from covalent_eventbatch.localaws import stack

pytestmark = pytest.mark.e2e


def _run(aws, **overrides):
    settings = stack.local_settings(stack.StackState.load(), **overrides)
    checks = doctor.run(settings, aws)
    return {c.name: c for c in checks}, doctor.exit_status(checks)


def _failed(checks):
    return {name for name, c in checks.items() if c.status == doctor.FAIL}


def test_all_checks_pass_on_the_local_stack(local_stack, aws):
    checks, status = _run(aws)
    assert _failed(checks) == set(), [c.line() for c in checks.values()]
    assert status == 0
    for name in ("credentials", "region", "S3 bucket", "ECR repository", "Batch job queue"):
        assert checks[name].status == doctor.PASS
    # moto has no iam:SimulatePrincipalPolicy: what cannot be probed is said to be unchecked.
    assert checks["permission TerminateJobOnCancel"].status == doctor.SKIP
    assert "not checked" in checks["permission TerminateJobOnCancel"].detail
    # The wake-up queue's permissions: a probe queue made, asked and deleted.
    own = checks["permission OwnWakeUpQueue"]
    assert own.status == doctor.PASS and "sqs:CreateQueue" in own.detail, own.line()
    assert checks["permission FindWakeUpQueues"].status == doctor.PASS
    left = aws.client("sqs").list_queues(QueueNamePrefix="covalent-eventbatch-wake-doctor")
    assert not left.get("QueueUrls")


def test_cli_exit_status_and_lines(local_stack, capsys):
    # covalent.conf points at the local stack (written by the fixture).
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert "ok    state machine" in out and "no check failed" in out
    assert main(["doctor", "--profile", "no-such-profile"]) == 1
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("FAIL  credentials")
    assert "fix: set 'credentials' and 'profile'" in out


@pytest.mark.parametrize(
    ("setting", "check", "fix"),
    [
        ("s3_bucket_name", "S3 bucket", "s3_bucket_name"),
        ("ecr_repo_name", "ECR repository", "ecr_repo_name"),
        ("batch_queue", "Batch job queue", "batch_queue"),
        ("state_machine_name", "state machine", "state_machine_name"),
        ("batch_job_role_name", "job role", "batch_job_role_name"),
        ("batch_execution_role_name", "execution role", "batch_execution_role_name"),
        ("batch_job_log_group_name", "log group", "batch_job_log_group_name"),
    ],
)
def test_each_missing_resource_is_reported(local_stack, aws, setting, check, fix):
    checks, status = _run(aws, **{setting: "eventbatch-doctor-missing"})
    assert _failed(checks) == {check}, [c.line() for c in checks.values()]
    assert status == 1
    assert "eventbatch-doctor-missing" in checks[check].detail
    assert fix in checks[check].fix


def test_disabled_queue_is_reported(local_stack, aws):
    batch = aws.client("batch")
    environment = "covalent-batch-queue-env"  # the local stack's compute environment
    if not batch.describe_job_queues(jobQueues=["eventbatch-doctor-disabled"])["jobQueues"]:
        batch.create_job_queue(
            jobQueueName="eventbatch-doctor-disabled",
            state="DISABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
        )
    checks, status = _run(aws, batch_queue="eventbatch-doctor-disabled")
    assert _failed(checks) == {"Batch job queue"}
    assert "DISABLED" in checks["Batch job queue"].detail
    assert "update-job-queue" in checks["Batch job queue"].fix
    assert status == 1


def test_outdated_state_machine_is_reported(local_stack, aws):
    from covalent_eventbatch.statemachine.definition import build_definition

    sfn = aws.client("stepfunctions")
    old = build_definition("aws")
    old["Comment"] = "an older version"
    arn = f"arn:aws:states:us-east-1:{aws.account_id()}:stateMachine:eventbatch-doctor-old"
    try:
        sfn.describe_state_machine(stateMachineArn=arn)
    except sfn.exceptions.StateMachineDoesNotExist:
        role = aws.client("iam").get_role(RoleName="CovalentEventBatchStateMachineRole")
        sfn.create_state_machine(
            name="eventbatch-doctor-old", definition=json.dumps(old), roleArn=role["Role"]["Arn"]
        )
    checks, status = _run(aws, state_machine_name="eventbatch-doctor-old")
    assert _failed(checks) == {"state machine"}
    assert "differs" in checks["state machine"].detail
    assert status == 1


def test_docker_is_needed_only_without_a_prebuilt_image(local_stack, aws, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    checks, status = _run(aws)
    assert _failed(checks) == {"Docker"}
    assert "container_image_uri" in checks["Docker"].fix
    assert status == 1
    checks, status = _run(aws, container_image_uri="registry.example/repo:tag")
    assert checks["Docker"].status == doctor.PASS and status == 0


def test_a_job_role_that_may_not_send_events_fails_with_the_fix(local_stack, aws):
    """Every electron announces its own end: the job role needs events:PutEvents."""
    iam = aws.client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "ecs-tasks.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    name = "eventbatch-doctor-silent-job-role"
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    checks, status = _run(aws)
    assert checks["job role events:PutEvents"].status == doctor.PASS, checks[
        "job role events:PutEvents"
    ].line()
    checks, status = _run(aws, batch_job_role_name=name)
    check = checks["job role events:PutEvents"]
    assert check.status == doctor.FAIL and status == 1
    assert name in check.detail and "event-bus/default" in check.detail
    assert "events:PutEvents" in check.fix and "eventbatch deploy" in check.fix
