"""Create the AWS resources of the control plane on the local stack, idempotently.

On AWS the same resources come from the CloudFormation template (``eventbatch deploy``); here they
are made with plain API calls against moto. The one difference in shape: moto's EventBridge cannot
invoke a Lambda, so the rules target an SQS queue that the relay drains into the Chalice handler.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from covalent_eventbatch.executor import names
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.statemachine.definition import EVENT_DETAIL_TYPE, EVENT_SOURCE

from . import policies
from .state_machine import ensure_state_machine

EVENTS_QUEUE = f"{names.PRODUCT}-events"
TASK_RULE = f"{names.PRODUCT}-task-finished"
EXECUTION_RULE = f"{names.PRODUCT}-execution-status"
STATE_MACHINE_ROLE = policies.STATE_MACHINE_ROLE
_ASSUME = {
    "ecs-tasks": "ecs-tasks.amazonaws.com",
    "states": "states.amazonaws.com",
    "batch": "batch.amazonaws.com",
    "lambda": "lambda.amazonaws.com",
}


@dataclass(frozen=True)
class Provisioned:
    state_machine_arn: str
    queue_url: str
    actions: list[str]
    lambda_role_arn: str = ""


def _ignore(already: tuple[type[Exception], ...], call: Any, **kwargs: Any) -> bool:
    """Run call; True when it created something, False when it already existed (already)."""
    try:
        call(**kwargs)
        return True
    except already:
        return False


def _role(clients: AwsClients, name: str, service: str) -> str:
    iam = clients.client("iam")
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }
    _ignore(
        (iam.exceptions.EntityAlreadyExistsException,),
        iam.create_role,
        RoleName=name,
        AssumeRolePolicyDocument=json.dumps(policy),
    )
    return str(iam.get_role(RoleName=name)["Role"]["Arn"])


def provision(clients: AwsClients, settings: ExecutorSettings) -> Provisioned:
    actions: list[str] = []
    region = clients.region

    def did(created: bool, what: str) -> None:
        actions.append(f"{'created' if created else 'exists '} {what}")

    s3, ecr, logs = clients.client("s3"), clients.client("ecr"), clients.client("logs")
    bucket_args: dict[str, Any] = {"Bucket": settings.s3_bucket_name}
    if region != "us-east-1":
        bucket_args["CreateBucketConfiguration"] = {"LocationConstraint": region}
    did(
        _ignore(
            (s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists),
            s3.create_bucket,
            **bucket_args,
        ),
        f"bucket {settings.s3_bucket_name}",
    )
    did(
        _ignore(
            (ecr.exceptions.RepositoryAlreadyExistsException,),
            ecr.create_repository,
            repositoryName=settings.ecr_repo_name,
        ),
        f"ECR repository {settings.ecr_repo_name}",
    )
    did(
        _ignore(
            (logs.exceptions.ResourceAlreadyExistsException,),
            logs.create_log_group,
            logGroupName=settings.batch_job_log_group_name,
        ),
        f"log group {settings.batch_job_log_group_name}",
    )
    _role(clients, settings.batch_job_role_name, _ASSUME["ecs-tasks"])
    _role(clients, settings.batch_execution_role_name, _ASSUME["ecs-tasks"])
    service_role = _role(clients, "CovalentEventBatchServiceRole", _ASSUME["batch"])
    sfn_role = _role(clients, STATE_MACHINE_ROLE, _ASSUME["states"])
    lambda_role = _role(clients, policies.LAMBDA_ROLE, _ASSUME["lambda"])
    names = policies.LocalNames(settings, clients.partition(), region, clients.account_id())
    iam = clients.client("iam")
    # The policies the deployed stack gives each role, for the local names.
    for role, documents in policies.role_policies(names).items():
        for name, document in documents.items():
            iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))
    actions.append("exists  IAM roles (job, execution, Batch service, state machine, Lambda)")

    batch = clients.client("batch")
    environment = f"{settings.batch_queue}-env"
    if not batch.describe_compute_environments(computeEnvironments=[environment])[
        "computeEnvironments"
    ]:
        # UNMANAGED: moto runs each job as a local Docker container, no EC2 needed.
        batch.create_compute_environment(
            computeEnvironmentName=environment,
            type="UNMANAGED",
            state="ENABLED",
            serviceRole=service_role,
        )
        did(True, f"Batch compute environment {environment}")
    if not batch.describe_job_queues(jobQueues=[settings.batch_queue])["jobQueues"]:
        batch.create_job_queue(
            jobQueueName=settings.batch_queue,
            state="ENABLED",
            priority=1,
            computeEnvironmentOrder=[{"order": 1, "computeEnvironment": environment}],
        )
        did(True, f"Batch job queue {settings.batch_queue}")
    else:
        did(False, f"Batch job queue {settings.batch_queue}")

    arn, what = ensure_state_machine(
        clients.client("stepfunctions"),
        settings.state_machine_name,
        sfn_role,
        clients.partition(),
        region,
        clients.account_id(),
    )
    actions.append(f"{what:7} state machine {settings.state_machine_name}")

    queue_url = _event_rules(clients, arn)
    actions.append(f"exists  EventBridge rules -> SQS {EVENTS_QUEUE} -> relay -> Chalice handler")
    return Provisioned(
        state_machine_arn=arn, queue_url=queue_url, actions=actions, lambda_role_arn=lambda_role
    )


def executor_user(
    clients: AwsClients, settings: ExecutorSettings, known_key: str = ""
) -> tuple[str, str] | None:
    """The executor's IAM user, with the executor policy for the local names.

    Returns a new (access key id, secret) unless known_key is still one of the user's keys.
    """
    iam = clients.client("iam")
    _ignore(
        (iam.exceptions.EntityAlreadyExistsException,),
        iam.create_user,
        UserName=policies.EXECUTOR_USER,
    )
    names = policies.LocalNames(settings, clients.partition(), clients.region, clients.account_id())
    iam.put_user_policy(
        UserName=policies.EXECUTOR_USER,
        PolicyName="executor",
        PolicyDocument=json.dumps(policies.executor_policy(names)),
    )
    keys = iam.list_access_keys(UserName=policies.EXECUTOR_USER)["AccessKeyMetadata"]
    if known_key and any(k["AccessKeyId"] == known_key for k in keys):
        return None
    key = iam.create_access_key(UserName=policies.EXECUTOR_USER)["AccessKey"]
    return str(key["AccessKeyId"]), str(key["SecretAccessKey"])


def _event_rules(clients: AwsClients, state_machine_arn: str) -> str:
    sqs, events = clients.client("sqs"), clients.client("events")
    queue_url = sqs.create_queue(QueueName=EVENTS_QUEUE, Attributes={"VisibilityTimeout": "30"})[
        "QueueUrl"
    ]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    patterns = {
        TASK_RULE: {"source": [EVENT_SOURCE], "detail-type": [EVENT_DETAIL_TYPE]},
        EXECUTION_RULE: {
            "source": ["aws.states"],
            "detail-type": ["Step Functions Execution Status Change"],
            "detail": {"stateMachineArn": [state_machine_arn]},
        },
    }
    for name, pattern in patterns.items():
        events.put_rule(Name=name, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "relay-queue", "Arn": queue_arn}])
    return str(queue_url)
