"""The packaged control plane deployed with CloudFormation on the local stack, then used.

moto's CloudFormation has no SAM transform, so ``eventbatch deploy`` transforms the template
itself for an endpoint (``transform_locally``); AWS does it server-side. Resource types moto's
CloudFormation lacks or only partly applies are listed in test_what_moto_left_out.

moto's EventBridge cannot deliver to a Lambda target (PutEvents fails with a 500 while such a
rule matches), so the stack is deleted when this module ends, and before an electron runs the
stack's two rules are pointed at an SQS queue drained by a relay that runs the same handlers with
the deployed functions' environment: the rules' patterns and the handlers' filter are the
deployed ones, only the delivery differs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import covalent as ct
import pytest

from controlplane import deploy, iampolicy
from executor.settings import ExecutorSettings
from statemachine.definition import build_definition

from ..e2e.helpers import explain

pytestmark = pytest.mark.e2e

STACK = "eventbatch-deployed"
PARAMETERS = {
    "BucketName": "eventbatch-deployed",
    "EcrRepoName": "eventbatch-deployed-images",
    "JobRoleName": "EventBatchDeployedJobRole",
    "ExecutionRoleName": "EventBatchDeployedExecutionRole",
    "LogGroupName": "eventbatch-deployed-logs",
    "StateMachineName": "eventbatch-deployed",
    "S3Prefix": "covalent",
    # The local stack's queue (ComputeEnvironment=NONE): moto runs its jobs as containers.
    "JobQueueName": "covalent-batch-queue",
}


@pytest.fixture(scope="module")
def deployed(local_stack, aws, keep_policies):
    outputs = deploy.deploy(aws, stack=STACK, parameters=PARAMETERS, say=lambda _: None)
    yield outputs
    try:
        keep_policies()  # its roles called: their calls are checked after the stack is gone
    finally:
        _delete(aws)


def _delete(aws) -> None:
    ecr = aws.client("ecr")
    images = ecr.list_images(repositoryName=PARAMETERS["EcrRepoName"])["imageIds"]
    if images:  # moto does not apply the repository's EmptyOnDelete
        ecr.batch_delete_image(repositoryName=PARAMETERS["EcrRepoName"], imageIds=images)
    aws.client("cloudformation").delete_stack(StackName=STACK)
    events = aws.client("events")
    for rule in events.list_rules(NamePrefix=STACK)["Rules"]:  # whatever moto left behind
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if targets:
            events.remove_targets(Rule=rule["Name"], Ids=[t["Id"] for t in targets])
        events.delete_rule(Name=rule["Name"])


@pytest.fixture(scope="module")
def dispatcher(deployed, local_stack):
    """The profile of a user holding only the stack's ExecutorPolicy, as the README says."""
    from localaws import stack

    return stack.user_profile(local_stack, f"{STACK}-dispatcher", deployed["ExecutorPolicyArn"])


@pytest.fixture
def relayed(deployed, local_stack, aws):
    """The stack's rules -> SQS -> a relay running the handlers with the functions' environment."""
    sqs, events = aws.client("sqs"), aws.client("events")
    queue_url = sqs.create_queue(QueueName=f"{STACK}-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    functions = {f["FunctionArn"]: f for f in aws.client("lambda").list_functions()["Functions"]}
    environment = {}
    roles = set()
    for rule in events.list_rules(NamePrefix=STACK)["Rules"]:
        (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        environment.update(functions[target["Arn"]]["Environment"]["Variables"])
        roles.add(functions[target["Arn"]]["Role"])
        events.remove_targets(Rule=rule["Name"], Ids=[target["Id"]])
        events.put_targets(Rule=rule["Name"], Targets=[{"Id": "relay", "Arn": queue_arn}])
    env = dict(
        os.environ,
        **environment,
        # The handlers call as a deployed function's role (both roles get the same policy).
        EVENTBATCH_LAMBDA_ROLE_ARN=sorted(roles)[0],
        AWS_ENDPOINT_URL=local_stack.endpoint_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
    )
    relay = subprocess.Popen(
        [sys.executable, "-m", "localaws.relay", queue_url],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield environment
    relay.send_signal(signal.SIGTERM)
    relay.wait(timeout=30)


def test_outputs_are_the_executor_settings(deployed):
    values = deploy.settings_from_outputs(deployed)
    assert values == {
        "s3_bucket_name": "eventbatch-deployed",
        "s3_prefix": "covalent",
        "ecr_repo_name": "eventbatch-deployed-images",
        "batch_job_definition_name": "covalent-batch-jobs",
        "batch_queue": "covalent-batch-queue",
        "batch_job_role_name": "EventBatchDeployedJobRole",
        "batch_execution_role_name": "EventBatchDeployedExecutionRole",
        "batch_job_log_group_name": "eventbatch-deployed-logs",
        "state_machine_name": "eventbatch-deployed",
        "region": "us-east-1",
        "platform": "EC2",
    }
    ExecutorSettings.resolve(values)  # valid settings as they stand
    section = deploy.config_section(values)
    assert section.startswith("[executors.awsbatch]\n")
    assert 's3_bucket_name = "eventbatch-deployed"' in section


def test_state_machine_rules_and_lambda_are_wired_to_each_other(deployed, aws):
    arn = deployed["StateMachineArn"]
    described = aws.client("stepfunctions").describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"]) == build_definition("aws")
    assert ":role/" in described["roleArn"]

    events = aws.client("events")
    functions = {f["FunctionArn"]: f for f in aws.client("lambda").list_functions()["Functions"]}
    bound = {}
    for rule in events.list_rules(NamePrefix=STACK)["Rules"]:
        pattern = json.loads(rule["EventPattern"])
        (target,) = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        function = functions[target["Arn"]]
        assert function["Environment"]["Variables"]["EVENTBATCH_STATE_MACHINE_ARN"] == arn
        bound[function["Handler"]] = pattern
    assert bound["app.on_execution_status"]["detail"]["stateMachineArn"] == [arn]
    assert bound["app.on_task_finished"] == {
        "source": ["covalent.eventbatch"],
        "detail-type": ["Task Finished"],
    }


def test_roles_log_group_repository_and_executor_policy(deployed, aws):
    iam = aws.client("iam")
    for name in ("EventBatchDeployedJobRole", "EventBatchDeployedExecutionRole"):
        trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    (group,) = aws.client("logs").describe_log_groups(logGroupNamePrefix="eventbatch-deployed")[
        "logGroups"
    ]
    assert group["retentionInDays"] == 30
    aws.client("ecr").describe_repositories(repositoryNames=["eventbatch-deployed-images"])
    encryption = aws.client("s3").get_bucket_encryption(Bucket="eventbatch-deployed")
    assert encryption["ServerSideEncryptionConfiguration"]["Rules"]

    policy = iam.get_policy(PolicyArn=deployed["ExecutorPolicyArn"])["Policy"]
    document = iam.get_policy_version(
        PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"]
    )["PolicyVersion"]["Document"]
    if isinstance(document, str):
        document = json.loads(document)
    names = iampolicy.Names(
        region="us-east-1",
        account=aws.account_id(),
        bucket="eventbatch-deployed",
        ecr_repo="eventbatch-deployed-images",
        state_machine="eventbatch-deployed",
        log_group="eventbatch-deployed-logs",
    )
    assert document == iampolicy.policy(names)


def test_what_moto_left_out(deployed, aws):
    """Documents moto 5.2.5's gaps; if one starts failing, moto caught up: update the README."""
    from botocore.exceptions import ClientError

    s3 = aws.client("s3")
    gaps = []
    for call in (
        s3.get_public_access_block,
        s3.get_bucket_lifecycle_configuration,
        s3.get_bucket_policy,
    ):
        try:
            call(Bucket="eventbatch-deployed")
        except ClientError:
            gaps.append(call.__name__)
    assert gaps == [
        "get_public_access_block",
        "get_bucket_lifecycle_configuration",
        "get_bucket_policy",
    ]


def test_redeploy_keeps_the_stack(deployed, aws):
    again = deploy.deploy(aws, stack=STACK, parameters=PARAMETERS, say=lambda _: None)
    assert again["StateMachineArn"] == deployed["StateMachineArn"]


def test_an_electron_runs_on_the_deployed_control_plane(
    deployed, relayed, dispatcher, covalent_server, aws
):
    from executor.awsbatch import AWSBatchExecutor

    assert relayed["EVENTBATCH_STATE_MACHINE_ARN"] == deployed["StateMachineArn"]
    values = deploy.settings_from_outputs(deployed)
    executor = AWSBatchExecutor(**values, profile=dispatcher)

    @ct.electron(executor=executor)
    def add(x: int, y: int) -> int:
        return x + y

    @ct.lattice
    def flow(x: int) -> int:
        return add(x, 2)

    dispatch_id = ct.dispatch(flow)(40)
    result = ct.get_result(dispatch_id, wait=True)
    assert str(result.status) == "COMPLETED", explain(result)
    assert result.result == 42

    sfn = aws.client("stepfunctions")
    executions = sfn.list_executions(stateMachineArn=deployed["StateMachineArn"])["executions"]
    (execution,) = [e for e in executions if e["name"].startswith(dispatch_id)]
    assert execution["status"] == "SUCCEEDED"
    marker_keys = aws.client("s3").list_objects_v2(
        Bucket="eventbatch-deployed", Prefix=f"covalent/markers/{dispatch_id}/"
    )["Contents"]
    marker = json.loads(
        aws.client("s3")
        .get_object(Bucket="eventbatch-deployed", Key=marker_keys[0]["Key"])["Body"]
        .read()
    )
    # Written by the handler from the deployed Task Finished rule, not by the executor's sweep.
    assert marker["status"] == "SUCCEEDED"
    assert marker["source"] == "task-finished"
    assert marker["execution_arn"] == execution["executionArn"]


def test_doctor_passes_on_the_deployed_control_plane(deployed, dispatcher, local_stack):
    from controlplane import doctor
    from localaws import stack

    values = deploy.settings_from_outputs(deployed)
    settings = stack.local_settings(local_stack, **values, profile=dispatcher)
    checks = doctor.run(settings)
    failed = [c.line() for c in checks if c.status == doctor.FAIL]
    assert failed == []
    assert {c.name for c in checks if c.status == doctor.PASS} >= {
        "S3 bucket",
        "ECR repository",
        "Batch job queue",
        "state machine",
        "job role",
        "execution role",
        "log group",
    }


def test_cli_deploy_prints_and_writes_the_settings(deployed, local_stack, capsys):
    from eventbatch_cli import main
    from executor.awsbatch import _config_section

    before = _config_section()  # the local stack's section: put back afterwards
    assert before["endpoint_url"] == local_stack.endpoint_url
    # Deployed by an administrator, not by the executor's user.
    arguments = ["deploy", "--stack-name", STACK, "--write-config", "--profile", "default"]
    for key, value in PARAMETERS.items():
        arguments += ["-p", f"{key}={value}"]
    try:
        assert main(arguments) == 0
        out = capsys.readouterr().out
        assert "[executors.awsbatch]" in out
        assert 'state_machine_name = "eventbatch-deployed"' in out
        assert f"# attach {deployed['ExecutorPolicyArn']}" in out
        written = _config_section()
        assert written["s3_bucket_name"] == "eventbatch-deployed"
        assert written["batch_job_role_name"] == "EventBatchDeployedJobRole"
        assert written["endpoint_url"] == local_stack.endpoint_url  # credentials etc. kept
    finally:
        deploy.write_config(before)
    assert main(["deploy", "--stack-name", STACK, "-p", "NoSuchParameter=1"]) == 1
    assert "Unknown template parameter(s) NoSuchParameter" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("parameters", "platform", "resources"),
    [
        ({"ComputeEnvironment": "FARGATE"}, "FARGATE", {"type": "FARGATE"}),
        (
            # moto knows instance types, not the families of the default (g4dn,g5).
            {
                "ComputeEnvironment": "EC2",
                "GpuInstances": "true",
                "GpuInstanceTypes": "g4dn.xlarge",
            },
            "EC2",
            {"type": "EC2", "instanceTypes": ["g4dn.xlarge"], "imageType": "ECS_AL2_NVIDIA"},
        ),
        (
            {"ComputeEnvironment": "EC2", "InstanceTypes": "m5.large"},
            "EC2",
            {"type": "EC2", "instanceTypes": ["m5.large"], "imageType": "ECS_AL2023"},
        ),
    ],
    ids=["fargate", "ec2-gpu", "ec2"],
)
def test_stack_with_its_own_compute_environment(
    local_stack, aws, keep_policies, parameters, platform, resources
):
    from controlplane import doctor
    from localaws import stack

    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"sg-{vpc}", Description="jobs", VpcId=vpc)
    name = f"eventbatch-{parameters['ComputeEnvironment'].lower()}-{len(parameters)}"
    service_role = aws.client("iam").get_role(RoleName="CovalentEventBatchServiceRole")["Role"]
    outputs = deploy.deploy(
        aws,
        stack=name,
        parameters={
            **parameters,
            "BucketName": name,
            "EcrRepoName": name,
            "JobRoleName": f"{name}-job",
            "ExecutionRoleName": f"{name}-execution",
            "LogGroupName": name,
            "StateMachineName": name,
            "JobQueueName": f"{name}-queue",
            "SubnetIds": subnet,
            "SecurityGroupIds": group["GroupId"],
            # moto needs an explicit service role; on AWS the default (none) uses Batch's
            # service-linked role.
            "BatchServiceRoleArn": service_role["Arn"],
        },
        say=lambda _: None,
    )
    try:
        assert outputs["BatchQueue"] == f"{name}-queue"
        assert outputs["Platform"] == platform
        batch = aws.client("batch")
        (queue,) = batch.describe_job_queues(jobQueues=[outputs["BatchQueue"]])["jobQueues"]
        assert (queue["state"], queue["status"]) == ("ENABLED", "VALID")
        (environment,) = batch.describe_compute_environments(
            computeEnvironments=[queue["computeEnvironmentOrder"][0]["computeEnvironment"]]
        )["computeEnvironments"]
        compute = environment["computeResources"]
        assert environment["type"] == "MANAGED"
        assert compute["type"] == resources["type"]
        assert compute["subnets"] == [subnet]
        if "instanceTypes" in resources:
            assert compute["instanceTypes"] == resources["instanceTypes"]
            assert compute["ec2Configuration"] == [{"imageType": resources["imageType"]}]
        values = deploy.settings_from_outputs(outputs)
        profile = stack.user_profile(
            local_stack, f"{name}-dispatcher", outputs["ExecutorPolicyArn"]
        )
        settings = stack.local_settings(
            local_stack,
            **values,
            memory=2,
            profile=profile,  # Fargate: 2 GiB+
        )
        checks = {c.name: c for c in doctor.run(settings)}
        assert checks["Batch job queue"].status == doctor.PASS
    finally:
        try:
            keep_policies()
        finally:
            aws.client("cloudformation").delete_stack(StackName=name)
