"""The packaged control plane deployed with CloudFormation on the local stack, then used.

moto's CloudFormation has no SAM transform, so ``eventbatch deploy`` transforms the template
itself for an endpoint (``transform_locally``); AWS does it server-side. Resource types moto's
CloudFormation lacks or only partly applies are listed in test_what_moto_left_out.

moto's EventBridge cannot deliver to a Lambda target, so the stack is deleted when this module
ends, and before an electron runs the stack's two rules are pointed at the relay (relaying.py).

The stacks are deployed with no name parameter at all, as a first-time user would, into an
account that holds the original AWS Batch plugin's default-named resources (the local stack
made most of them; the module adds the bucket): every name is generated per stack, and the
Outputs carry them to the executor.
"""

from __future__ import annotations

import json
import sys

import covalent as ct
import pytest
import tomllib

from covalent_eventbatch.controlplane import deploy, iampolicy
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.statemachine.definition import build_definition

from ..e2e.helpers import execution_ended, explain
from .relaying import relayed_rules

pytestmark = pytest.mark.e2e

STACK = "eventbatch-deployed"
BESIDE = "eventbatch-beside"  # not a prefix of STACK: rules are found by name prefix

# The original plugin's default names: its users' accounts hold these resources.
ORIGINAL = {
    "s3_bucket_name": "covalent-batch-job-resources",
    "ecr_repo_name": "covalent-batch-job-images",
    "batch_job_role_name": "CovalentBatchJobRole",
    "batch_execution_role_name": "ecsTaskExecutionRole",
    "batch_job_log_group_name": "covalent-batch-job-logs",
    "batch_queue": "covalent-batch-queue",
    "state_machine_name": "covalent-eventbatch",
}
# The [executors.awsbatch] keys whose values name a resource the stack creates.
CREATED = (
    "s3_bucket_name",
    "ecr_repo_name",
    "batch_job_role_name",
    "batch_execution_role_name",
    "batch_job_log_group_name",
    "state_machine_name",
)


def _hold_the_original_plugins_resources(aws) -> None:
    """The local stack made the original's repository, roles, log group and queue."""
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=ORIGINAL["s3_bucket_name"])
    aws.client("ecr").describe_repositories(repositoryNames=[ORIGINAL["ecr_repo_name"]])
    for role in ("batch_job_role_name", "batch_execution_role_name"):
        aws.client("iam").get_role(RoleName=ORIGINAL[role])
    groups = aws.client("logs").describe_log_groups(
        logGroupNamePrefix=ORIGINAL["batch_job_log_group_name"]
    )["logGroups"]
    assert [g["logGroupName"] for g in groups] == [ORIGINAL["batch_job_log_group_name"]]
    queues = aws.client("batch").describe_job_queues(jobQueues=[ORIGINAL["batch_queue"]])
    assert queues["jobQueues"]


def _delete_stack(aws, stack: str, outputs: dict[str, str]) -> None:
    ecr = aws.client("ecr")
    repository = outputs["EcrRepoName"]
    images = ecr.list_images(repositoryName=repository)["imageIds"]
    if images:  # moto does not apply the repository's EmptyOnDelete
        ecr.batch_delete_image(repositoryName=repository, imageIds=images)
    aws.client("cloudformation").delete_stack(StackName=stack)
    _delete_rules(aws, stack)


def _delete_rules(aws, stack: str) -> None:
    events = aws.client("events")
    for rule in events.list_rules(NamePrefix=stack)["Rules"]:  # whatever moto left behind
        targets = events.list_targets_by_rule(Rule=rule["Name"])["Targets"]
        if targets:
            events.remove_targets(Rule=rule["Name"], Ids=[t["Id"] for t in targets])
        events.delete_rule(Name=rule["Name"])


def _printed_settings(outputs: dict[str, str]) -> ExecutorSettings:
    """What the executor makes of the printed section, pasted into a covalent.conf that holds
    the plugin's defaults (Covalent writes them there when it loads the plugin)."""
    printed = deploy.config_section(deploy.settings_from_outputs(outputs))
    section = tomllib.loads(printed)["executors"]["awsbatch"]
    return ExecutorSettings.resolve({}, {**ExecutorSettings().to_config(), **section})


@pytest.fixture(scope="module")
def deployed(local_stack, aws, keep_policies):
    _hold_the_original_plugins_resources(aws)
    outputs = deploy.deploy(aws, stack=STACK, say=lambda _: None)  # no parameter at all
    yield outputs
    try:
        keep_policies()  # its roles called: their calls are checked after the stack is gone
    finally:
        _delete_stack(aws, STACK, outputs)


@pytest.fixture(scope="module")
def dispatcher(deployed, local_stack):
    """The profile of a user holding only the stack's ExecutorPolicy, as the README says."""
    from covalent_eventbatch.localaws import stack

    return stack.user_profile(local_stack, f"{STACK}-dispatcher", deployed["ExecutorPolicyArn"])


@pytest.fixture
def relayed(deployed, local_stack, aws):
    """The stack's rules -> SQS -> a relay running the handlers with the functions' environment."""
    with relayed_rules(aws, STACK, local_stack.endpoint_url, sys.executable) as environment:
        yield environment


def test_default_deploy_beside_the_original_plugins_resources(deployed):
    values = deploy.settings_from_outputs(deployed)
    assert set(values) == {
        *CREATED,
        "s3_prefix",
        "batch_job_definition_name",
        "batch_queue",
        "region",
        "platform",
    }
    for key in CREATED:  # generated for this stack, none of the original plugin's
        assert values[key] != ORIGINAL[key]
        assert values[key].lower().startswith(STACK), (key, values[key])
    assert values["batch_queue"] == "covalent-batch-queue"  # ComputeEnvironment=NONE: existing
    assert values["batch_job_definition_name"] == STACK  # not the original's covalent-batch-jobs
    assert (values["region"], values["platform"], values["s3_prefix"]) == (
        "us-east-1",
        "EC2",
        "covalent",
    )
    section = deploy.config_section(values)
    assert section.startswith("[executors.awsbatch]\n")
    assert f's3_bucket_name = "{values["s3_bucket_name"]}"' in section
    settings = _printed_settings(deployed)  # valid as printed
    assert settings.s3_bucket_name == values["s3_bucket_name"]
    assert (settings.vcpu, settings.memory) == (2, 3.75)  # the original plugin's, on EC2


def test_a_second_default_stack_deploys_beside_the_first_and_again_after_a_delete(deployed, aws):
    s3 = aws.client("s3")
    beside = deploy.deploy(aws, stack=BESIDE, say=lambda _: None)
    try:
        first, second = (deploy.settings_from_outputs(o) for o in (deployed, beside))
        for key in (*CREATED, "batch_job_definition_name"):
            assert second[key] != first[key], key
        assert second["batch_queue"] == first["batch_queue"]  # the one existing queue, shared
        assert beside["StateMachineArn"] != deployed["StateMachineArn"]
        _printed_settings(beside)
        cfn = aws.client("cloudformation")
        for stack in (STACK, BESIDE):
            assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] in (
                "CREATE_COMPLETE",
                "UPDATE_COMPLETE",
            )
        s3.put_object(Bucket=second["s3_bucket_name"], Key="covalent/tasks/kept", Body=b"1")
    finally:
        _delete_stack(aws, BESIDE, beside)
    # The bucket outlives its stack (DeletionPolicy Retain), and does not block a new deploy
    # under the same stack name: the new one gets a name of its own.
    assert s3.get_object(Bucket=second["s3_bucket_name"], Key="covalent/tasks/kept")
    again = deploy.deploy(aws, stack=BESIDE, say=lambda _: None)
    try:
        assert again["S3BucketName"] != second["s3_bucket_name"]
    finally:
        _delete_stack(aws, BESIDE, again)


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
    executions = arn.replace(":stateMachine:", ":execution:") + ":"
    assert bound["app.on_task_finished"] == {
        "source": ["covalent.eventbatch"],
        "detail-type": ["Task Finished"],
        "detail": {"ExecutionArn": [{"prefix": executions}]},
    }


def test_existing_bucket_repository_and_log_group_are_used_and_left_alone(deployed, aws):
    stack = "eventbatch-reuse"
    existing = {
        "ExistingBucketName": ORIGINAL["s3_bucket_name"],
        "ExistingEcrRepoName": ORIGINAL["ecr_repo_name"],
        "ExistingLogGroupName": ORIGINAL["batch_job_log_group_name"],
    }
    outputs = deploy.deploy(aws, stack=stack, parameters=existing, say=lambda _: None)
    try:
        values = deploy.settings_from_outputs(outputs)
        for key in ("s3_bucket_name", "ecr_repo_name", "batch_job_log_group_name"):
            assert values[key] == ORIGINAL[key]
        _printed_settings(outputs)
        cfn = aws.client("cloudformation")
        made = {
            r["LogicalResourceId"]
            for r in cfn.list_stack_resources(StackName=stack)["StackResourceSummaries"]
        }
        assert not made & {"Bucket", "BucketPolicy", "Repository", "JobLogGroup"}
        assert {"JobRole", "ExecutionRole", "StateMachine", "ExecutorPolicy"} <= made
        iam = aws.client("iam")
        policy = iam.get_policy(PolicyArn=outputs["ExecutorPolicyArn"])["Policy"]
        document = iam.get_policy_version(
            PolicyArn=policy["Arn"], VersionId=policy["DefaultVersionId"]
        )["PolicyVersion"]["Document"]
        text = document if isinstance(document, str) else json.dumps(document)
        assert f"arn:aws:s3:::{ORIGINAL['s3_bucket_name']}/covalent/tasks/*" in text
        assert f"repository/{ORIGINAL['ecr_repo_name']}" in text
        execution = iam.get_role_policy(
            RoleName=outputs["BatchExecutionRoleName"], PolicyName="pull-image-write-logs"
        )["PolicyDocument"]
        execution = execution if isinstance(execution, str) else json.dumps(execution)
        assert f"log-group:{ORIGINAL['batch_job_log_group_name']}:*" in execution
    finally:
        aws.client("cloudformation").delete_stack(StackName=stack)
        _delete_rules(aws, stack)
    # Deleting the stack leaves what it only used.
    aws.client("s3").head_bucket(Bucket=ORIGINAL["s3_bucket_name"])
    aws.client("ecr").describe_repositories(repositoryNames=[ORIGINAL["ecr_repo_name"]])


def test_roles_log_group_repository_and_executor_policy(deployed, aws):
    iam = aws.client("iam")
    for name in (deployed["BatchJobRoleName"], deployed["BatchExecutionRoleName"]):
        trust = iam.get_role(RoleName=name)["Role"]["AssumeRolePolicyDocument"]
        assert trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    log_group = deployed["BatchJobLogGroupName"]
    (group,) = aws.client("logs").describe_log_groups(logGroupNamePrefix=log_group)["logGroups"]
    assert group["retentionInDays"] == 30
    aws.client("ecr").describe_repositories(repositoryNames=[deployed["EcrRepoName"]])
    encryption = aws.client("s3").get_bucket_encryption(Bucket=deployed["S3BucketName"])
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
        bucket=deployed["S3BucketName"],
        ecr_repo=deployed["EcrRepoName"],
        state_machine=deployed["StateMachineName"],
        log_group=deployed["BatchJobLogGroupName"],
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
            call(Bucket=deployed["S3BucketName"])
        except ClientError:
            gaps.append(call.__name__)
    assert gaps == [
        "get_public_access_block",
        "get_bucket_lifecycle_configuration",
        "get_bucket_policy",
    ]


def test_redeploy_keeps_the_stack(deployed, aws):
    again = deploy.deploy(aws, stack=STACK, say=lambda _: None)
    assert again == deployed  # the same resources, names included


def test_an_electron_runs_on_the_deployed_control_plane(
    deployed, relayed, dispatcher, covalent_server, aws
):
    from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor

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
    # The electron completes on its container's announcement, before the execution ends.
    assert execution_ended(aws, execution["executionArn"])["status"] == "SUCCEEDED"
    bucket = deployed["S3BucketName"]
    marker_keys = aws.client("s3").list_objects_v2(
        Bucket=bucket, Prefix=f"covalent/markers/{dispatch_id}/"
    )["Contents"]
    marker = json.loads(
        aws.client("s3").get_object(Bucket=bucket, Key=marker_keys[0]["Key"])["Body"].read()
    )
    # Written by the handler from the deployed Task Finished rule, not by the executor's sweep.
    assert marker["status"] == "SUCCEEDED"
    assert marker["source"] == "task-finished"
    assert marker["execution_arn"] == execution["executionArn"]


def test_doctor_passes_on_the_deployed_control_plane(deployed, dispatcher, local_stack):
    from covalent_eventbatch.controlplane import doctor
    from covalent_eventbatch.localaws import stack

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
    from covalent_eventbatch.cli import main
    from covalent_eventbatch.executor.awsbatch import config_section

    before = config_section()  # the local stack's section: put back afterwards
    assert before["endpoint_url"] == local_stack.endpoint_url
    # Deployed by an administrator, not by the executor's user.
    admin = ["--profile", "default"]
    try:
        assert main(["deploy", "--stack-name", STACK, "--write-config", *admin]) == 0
        out = capsys.readouterr().out
        assert "[executors.awsbatch]" in out
        assert f'state_machine_name = "{deployed["StateMachineName"]}"' in out
        assert f"# attach {deployed['ExecutorPolicyArn']}" in out
        written = config_section()
        assert written["s3_bucket_name"] == deployed["S3BucketName"]
        assert written["batch_job_role_name"] == deployed["BatchJobRoleName"]
        assert written["endpoint_url"] == local_stack.endpoint_url  # credentials etc. kept
    finally:
        deploy.write_config(before)
    assert main(["deploy", "--stack-name", STACK, "-p", "NoSuchParameter=1", *admin]) == 1
    assert "NoSuchParameter: unknown template parameter" in capsys.readouterr().err


def test_a_deploy_aws_would_refuse_stops_before_cloudformation(deployed, aws, capsys):
    from covalent_eventbatch.cli import main

    taken = ["-p", f"BucketName={ORIGINAL['s3_bucket_name']}"]
    taken += ["-p", f"JobRoleName={ORIGINAL['batch_job_role_name']}"]
    admin = ["--profile", "default"]  # an administrator deploys, not the executor's user
    assert main(["deploy", "--stack-name", "eventbatch-refused", *taken, *admin]) == 1
    err = capsys.readouterr().err
    assert "Not deploying stack eventbatch-refused" in err
    assert "  - BucketName: S3 bucket covalent-batch-job-resources already exists" in err
    assert "  - JobRoleName: IAM role CovalentBatchJobRole (role names are per account)" in err
    stacks = aws.client("cloudformation").list_stacks()["StackSummaries"]
    assert "eventbatch-refused" not in {s["StackName"] for s in stacks}


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
    from covalent_eventbatch.controlplane import doctor
    from covalent_eventbatch.localaws import stack

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
            **parameters,  # the README's quick start, names left to CloudFormation
            "SubnetIds": subnet,
            "SecurityGroupIds": group["GroupId"],
            # moto needs an explicit service role; on AWS the default (none) uses Batch's
            # service-linked role.
            "BatchServiceRoleArn": service_role["Arn"],
        },
        say=lambda _: None,
    )
    try:
        assert outputs["BatchQueue"].startswith(f"{name}-JobQueue-")
        assert outputs["Platform"] == platform
        printed = _printed_settings(outputs)  # valid as printed, the size included
        assert printed.platform == platform
        assert (printed.vcpu, printed.memory) == ((2, 4) if platform == "FARGATE" else (2, 3.75))
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
            _delete_stack(aws, name, outputs)
