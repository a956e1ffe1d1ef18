"""What AWS would refuse, refused before CloudFormation starts, naming the parameter to change.

The read calls run against moto in this process, in an account holding the original AWS Batch
plugin's default-named resources; moto answers HeadBucket, GetRole, ... as AWS documents them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.stub import Stubber

from covalent_eventbatch.controlplane import deploy, preflight
from covalent_eventbatch.controlplane.errors import DeployError
from covalent_eventbatch.executor.aws import AwsClients

# The original plugin's defaults (its README and its users' accounts).
ORIGINAL = {
    "bucket": "covalent-batch-job-resources",
    "repository": "covalent-batch-job-images",
    "job_role": "CovalentBatchJobRole",
    "execution_role": "ecsTaskExecutionRole",
    "log_group": "covalent-batch-job-logs",
    "queue": "covalent-batch-queue",
}


def values(**given: str) -> dict[str, str]:
    return preflight.effective_parameters(given, {})


def parameters_of(problems: list[preflight.Problem]) -> list[str]:
    return [p.parameter for p in problems]


@pytest.mark.parametrize(
    ("given", "parameter", "fragment"),
    [
        ({"BucketName": "Bad_Bucket"}, "BucketName", "S3 bucket names"),
        ({"BucketName": "a..b"}, "BucketName", "no '..'"),
        ({"BucketName": "192.168.1.1"}, "BucketName", "IP address"),
        ({"ExistingBucketName": "xn--bucket"}, "ExistingBucketName", "reserves"),
        ({"EcrRepoName": "Images"}, "EcrRepoName", "lowercase"),
        ({"JobRoleName": "r" * 65}, "JobRoleName", "up to 64"),
        ({"StateMachineName": "has space"}, "StateMachineName", "up to 80"),
        ({"LogRetentionDays": "2"}, "LogRetentionDays", "not one of 1, 3, 5"),
        ({"ExpireAfterDays": "0"}, "ExpireAfterDays", "minimum"),
        ({"MaxVcpus": "many"}, "MaxVcpus", "not a number"),
        ({"ComputeEnvironment": "LAMBDA"}, "ComputeEnvironment", "EC2, FARGATE"),
        ({"ComputeEnvironment": "FARGATE"}, "SubnetIds", "required with"),
        ({"ComputeEnvironment": "EC2", "SubnetIds": "subnet-1"}, "SecurityGroupIds", "sg-"),
        ({"GpuInstances": "true"}, "GpuInstances", "ComputeEnvironment=EC2"),
        (
            {"BucketName": "mine-new", "ExistingBucketName": "mine-old"},
            "BucketName",
            "not both",
        ),
        ({"BatchServiceRoleArn": "AWSBatchServiceRole"}, "BatchServiceRoleArn", "role ARN"),
        ({"NoSuchParameter": "1"}, "NoSuchParameter", "unknown template parameter"),
    ],
)
def test_bad_parameters_are_named_with_the_fix(given: dict, parameter: str, fragment: str) -> None:
    problems = preflight.check_parameters(given, values(**given))
    assert parameter in parameters_of(problems)
    (problem,) = [p for p in problems if p.parameter == parameter]
    assert fragment in problem.reason


def test_defaults_and_the_quick_starts_pass_the_parameter_checks() -> None:
    network = {"SubnetIds": "subnet-1,subnet-2", "SecurityGroupIds": "sg-1"}
    for given in (
        {},
        {"ComputeEnvironment": "EC2", **network},
        {"ComputeEnvironment": "FARGATE", **network},
        {"ComputeEnvironment": "EC2", "GpuInstances": "true", **network},
    ):
        assert preflight.check_parameters(given, values(**given)) == []


def test_a_stack_name_too_long_for_the_default_job_definition_prefix() -> None:
    long = "s" * 101
    (problem,) = preflight.check_stack_name_fits(long, values())
    assert problem.parameter == "JobDefinitionPrefix"
    assert preflight.check_stack_name_fits(long, values(JobDefinitionPrefix="jobs")) == []
    assert preflight.check_stack_name_fits("s" * 100, values()) == []


def test_stack_names_cloudformation_refuses() -> None:
    assert preflight.check_stack_name("covalent-eventbatch") == []
    for name in ("1st-stack", "my_stack", "a" * 129, ""):
        (problem,) = preflight.check_stack_name(name)
        assert problem.parameter == "--stack-name"


@pytest.fixture
def account(moto_aws: None) -> AwsClients:
    """An account where the original plugin ran: its default-named resources exist."""
    clients = AwsClients(region="us-east-1")
    clients.client("s3").create_bucket(Bucket=ORIGINAL["bucket"])
    clients.client("ecr").create_repository(repositoryName=ORIGINAL["repository"])
    clients.client("logs").create_log_group(logGroupName=ORIGINAL["log_group"])
    iam = clients.client("iam")
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
    for role in (ORIGINAL["job_role"], ORIGINAL["execution_role"], "BatchService"):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust))
    batch = clients.client("batch")
    service_role = iam.get_role(RoleName="BatchService")["Role"]["Arn"]
    batch.create_compute_environment(
        computeEnvironmentName="original",
        type="UNMANAGED",
        state="ENABLED",
        serviceRole=service_role,
    )
    batch.create_job_queue(
        jobQueueName=ORIGINAL["queue"],
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "original"}],
    )
    clients.client("stepfunctions").create_state_machine(
        name="covalent-eventbatch",
        definition=json.dumps({"StartAt": "A", "States": {"A": {"Type": "Succeed"}}}),
        roleArn=service_role,
    )
    return clients


def _check(clients: AwsClients, **given: str) -> list[preflight.Problem]:
    state = preflight.read_stack(clients, "covalent-eventbatch")
    return preflight.check_account(clients, values(**given), state, lambda _: None)


def test_defaults_deploy_beside_the_original_plugins_resources(account: AwsClients) -> None:
    assert _check(account) == []


def test_every_name_taken_is_found_before_cloudformation_starts(account: AwsClients) -> None:
    ec2 = account.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="jobs", Description="jobs", VpcId=vpc)["GroupId"]
    problems = _check(
        account,
        BucketName=ORIGINAL["bucket"],
        EcrRepoName=ORIGINAL["repository"],
        JobRoleName=ORIGINAL["job_role"],
        ExecutionRoleName=ORIGINAL["execution_role"],
        LogGroupName=ORIGINAL["log_group"],
        StateMachineName="covalent-eventbatch",
        ComputeEnvironment="FARGATE",
        JobQueueName=ORIGINAL["queue"],
        SubnetIds=subnet,
        SecurityGroupIds=group,
    )
    assert parameters_of(problems) == [
        "BucketName",
        "EcrRepoName",
        "JobRoleName",
        "ExecutionRoleName",
        "LogGroupName",
        "StateMachineName",
        "JobQueueName",
    ]
    bucket = problems[0].reason
    assert "S3 bucket covalent-batch-job-resources already exists" in bucket
    assert "leave BucketName empty for a generated name" in bucket
    assert "-p ExistingBucketName=NAME" in bucket


def test_existing_resources_named_for_reuse_must_exist(account: AwsClients) -> None:
    reuse = {
        "ExistingBucketName": ORIGINAL["bucket"],
        "ExistingEcrRepoName": ORIGINAL["repository"],
        "ExistingLogGroupName": ORIGINAL["log_group"],
        "JobQueueName": ORIGINAL["queue"],
    }
    assert _check(account, **reuse) == []
    problems = _check(
        account,
        ExistingBucketName="no-such-bucket-here",
        ExistingEcrRepoName="no-such-repository",
        ExistingLogGroupName="no-such-group",
        JobQueueName="no-such-queue",
        BatchServiceRoleArn="arn:aws:iam::123456789012:role/NoSuchRole",
    )
    assert parameters_of(problems) == [
        "ExistingBucketName",
        "ExistingEcrRepoName",
        "BatchServiceRoleArn",
        "ExistingLogGroupName",
        "ComputeEnvironment",
    ]
    assert "no S3 bucket no-such-bucket-here" in problems[0].reason
    queue = problems[-1].reason
    assert "there is no queue no-such-queue" in queue
    assert "-p ComputeEnvironment=EC2 or FARGATE" in queue


def test_an_existing_bucket_in_another_region_is_refused(account: AwsClients) -> None:
    account.client("s3").create_bucket(
        Bucket="results-in-ireland",
        CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
    )
    (problem,) = _check(account, ExistingBucketName="results-in-ireland")
    assert problem.parameter == "ExistingBucketName"
    assert "is in eu-west-1 and the stack in us-east-1" in problem.reason
    assert "--region eu-west-1" in problem.reason


def test_subnets_and_security_groups_are_checked(account: AwsClients) -> None:
    ec2 = account.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.2.0.0/16")["Vpc"]["VpcId"]
    other = ec2.create_vpc(CidrBlock="10.3.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.2.1.0/24")["Subnet"]["SubnetId"]
    stray = ec2.create_security_group(GroupName="x", Description="x", VpcId=other)["GroupId"]
    (problem,) = _check(account, ComputeEnvironment="EC2", SubnetIds=subnet, SecurityGroupIds=stray)
    assert (problem.parameter, problem.reason) == (
        "SecurityGroupIds",
        f"{stray} not in the subnets' VPC ({vpc})",
    )
    problems = _check(
        account,
        ComputeEnvironment="EC2",
        SubnetIds="subnet-0123456789abcdef0",
        SecurityGroupIds="sg-0123456789abcdef0",
    )
    assert parameters_of(problems) == ["SubnetIds", "SecurityGroupIds"]
    assert "subnet-0123456789abcdef0" in problems[0].reason


def test_names_the_stack_owns_are_not_taken(account: AwsClients) -> None:
    state = preflight.StackState(
        "covalent-eventbatch", status="UPDATE_COMPLETE", owned={ORIGINAL["bucket"]}
    )
    given = {"BucketName": ORIGINAL["bucket"]}
    assert preflight.check_account(account, values(**given), state, lambda _: None) == []


def test_a_check_the_caller_may_not_make_is_reported_not_failed(account: AwsClients) -> None:
    said: list[str] = []
    iam = account.client("iam")
    with Stubber(iam) as stub:
        stub.add_client_error("get_role", "AccessDenied", "not allowed", 403)
        state = preflight.StackState("s")
        given = {"JobRoleName": "SomeRole"}
        assert preflight.check_account(account, values(**given), state, said.append) == []
    assert said == ["not checked: IAM role SomeRole (AccessDenied; CloudFormation will tell)"]


def test_stack_states_that_need_a_hand() -> None:
    for status, fix in (
        ("UPDATE_IN_PROGRESS", "wait until it ends"),
        ("UPDATE_ROLLBACK_FAILED", "continue-update-rollback"),
        ("DELETE_FAILED", "--retain-resources"),
    ):
        (problem,) = preflight.StackState("s", status=status).problems()
        assert problem.parameter == "--stack-name" and fix in problem.reason
    for status in ("ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS", "UPDATE_COMPLETE", None):
        assert preflight.StackState("s", status=status).problems() == []


def test_capabilities_follow_the_template_and_the_names(packaged: deploy.Package) -> None:
    template = packaged.template
    iam, named, expand = "CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"
    assert preflight.required_capabilities(template, values()) == [iam, expand]
    with_name = values(JobRoleName="MyJobRole")
    assert preflight.required_capabilities(template, with_name) == [iam, named, expand]
    plain = {k: v for k, v in template.items() if k != "Transform"}
    assert preflight.required_capabilities(plain, values()) == [iam]


def test_a_capability_cloudformation_requires_and_we_do_not_give(moto_aws: None) -> None:
    clients = AwsClients(region="us-east-1")
    cfn = clients.client("cloudformation")
    # ValidateTemplate's answer, as AWS documents it for a template with named IAM resources.
    answer: dict[str, Any] = {
        "Parameters": [],
        "Capabilities": ["CAPABILITY_NAMED_IAM"],
        "CapabilitiesReason": "The following resource(s) require capabilities: [AWS::IAM::Role]",
    }
    with Stubber(cfn) as stub:
        stub.add_response("validate_template", answer, {"TemplateBody": "{}"})
        (problem,) = preflight.check_template(
            clients, {"TemplateBody": "{}"}, ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]
        )
    assert problem.parameter == "capabilities"
    assert "CloudFormation requires CAPABILITY_NAMED_IAM" in problem.reason
    assert "[AWS::IAM::Role]" in problem.reason
    with Stubber(cfn) as stub:
        stub.add_response("validate_template", answer, {"TemplateBody": "{}"})
        given = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
        assert preflight.check_template(clients, {"TemplateBody": "{}"}, given) == []


def test_deploy_stops_before_anything_is_made(account: AwsClients) -> None:
    said: list[str] = []
    with pytest.raises(DeployError) as raised:
        deploy.deploy(
            account,
            stack="covalent-eventbatch",
            parameters={"BucketName": ORIGINAL["bucket"], "LogRetentionDays": "2"},
            say=said.append,
        )
    message = str(raised.value)
    assert "Not deploying stack covalent-eventbatch" in message
    assert "nothing was created" in message
    assert ": LogRetentionDays: 2 is not one of" in message
    assert "\n" not in message  # one problem, one line
    # The parameter checks stop it before any read call or packaging.
    assert said == []
    with pytest.raises(DeployError) as raised:
        deploy.deploy(
            account,
            stack="covalent-eventbatch",
            parameters={"BucketName": ORIGINAL["bucket"]},
            say=said.append,
        )
    assert ": BucketName: S3 bucket covalent-batch-job-resources already exists" in str(
        raised.value
    )
    assert not any("packaging" in line for line in said)
    cfn = account.client("cloudformation")
    assert cfn.list_stacks()["StackSummaries"] == []
    buckets = {b["Name"] for b in account.client("s3").list_buckets()["Buckets"]}
    assert buckets == {ORIGINAL["bucket"]}  # not even the artifacts bucket


_SMALL = json.dumps(
    {
        "Resources": {"Group": {"Type": "AWS::Logs::LogGroup", "Properties": {}}},
        "Outputs": {"Group": {"Value": {"Ref": "Group"}}},
    }
)


@pytest.mark.parametrize("failed", ["ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"])
def test_a_stack_left_by_a_failed_create_is_replaced(moto_aws: None, failed: str) -> None:
    clients = AwsClients(region="us-east-1")
    cfn = clients.client("cloudformation")
    if failed == "REVIEW_IN_PROGRESS":  # a create change set never executed
        cfn.create_change_set(
            StackName="half-made",
            ChangeSetName="first",
            TemplateBody=_SMALL,
            ChangeSetType="CREATE",
        )
    else:
        # moto never rolls a create back: put the stack where AWS leaves a failed create.
        from moto.cloudformation.models import cloudformation_backends

        cfn.create_stack(StackName="half-made", TemplateBody=_SMALL)
        backend = cloudformation_backends[clients.account_id()]["us-east-1"]
        (stack,) = [s for s in backend.stacks.values() if s.name == "half-made"]
        stack.status = "ROLLBACK_COMPLETE"
    state = preflight.read_stack(clients, "half-made")
    assert state.status == failed and not state.updatable
    said: list[str] = []
    outputs = deploy.deploy_stack(clients, state, {"TemplateBody": _SMALL}, {}, [], said.append)
    assert said[0] == (
        f"stack half-made is {failed} from an earlier deploy that did not finish; "
        "CloudFormation cannot update it, so it is deleted and created again"
    )
    # The deletion's events, then the create's, as CloudFormation records them.
    creating = said.index(
        "creating stack half-made; its events follow as CloudFormation records them"
    )
    assert any("DELETE_COMPLETE" in line for line in said[1:creating]), said
    assert any("CREATE_COMPLETE" in line for line in said[creating:]), said
    assert outputs["Group"].startswith("half-made-Group-")
    assert cfn.describe_stacks(StackName="half-made")["Stacks"][0]["StackStatus"] == (
        "CREATE_COMPLETE"
    )


def test_a_redeploy_keeps_the_parameters_it_is_not_given(moto_aws: None) -> None:
    clients = AwsClients(region="us-east-1")
    cfn = clients.client("cloudformation")
    body = json.dumps(
        {
            "Parameters": {"LogRetentionDays": {"Type": "Number", "Default": 30}},
            "Resources": {
                "Group": {
                    "Type": "AWS::Logs::LogGroup",
                    "Properties": {"RetentionInDays": {"Ref": "LogRetentionDays"}},
                }
            },
            "Outputs": {"Days": {"Value": {"Ref": "LogRetentionDays"}}},
        }
    )
    cfn.create_stack(
        StackName="kept",
        TemplateBody=body,
        Parameters=[{"ParameterKey": "LogRetentionDays", "ParameterValue": "7"}],
    )
    sent: list[dict[str, Any]] = []
    cfn.meta.events.register(
        "provide-client-params.cloudformation.UpdateStack",
        lambda params, **_: sent.append(dict(params)),
    )
    state = preflight.read_stack(clients, "kept")
    changed = body.replace('"Outputs"', '"Description": "v2", "Outputs"')
    outputs = deploy.deploy_stack(clients, state, {"TemplateBody": changed}, {}, [], print)
    assert sent[0]["Parameters"] == [{"ParameterKey": "LogRetentionDays", "UsePreviousValue": True}]
    assert outputs["Days"] == "7"


def test_the_artifacts_bucket_of_another_account_is_never_used(moto_aws: None) -> None:
    clients = AwsClients(region="us-east-1")
    s3 = clients.client("s3")
    with Stubber(s3) as stub:
        # HeadBucket with ExpectedBucketOwner on a bucket another account owns: 403.
        stub.add_client_error("head_bucket", "403", "Forbidden", 403)
        with pytest.raises(DeployError) as raised:
            deploy.ensure_artifact_bucket(clients, "covalent-eventbatch-artifacts-x")
    assert "not this account's" in str(raised.value)
    assert "--artifact-bucket" in str(raised.value)
