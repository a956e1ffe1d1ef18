"""The control plane's template: generated from the code, valid for cfn-lint, least privilege."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from covalent_eventbatch.controlplane import deploy, iampolicy, template
from covalent_eventbatch.statemachine.definition import build_definition

ROOT = Path(__file__).resolve().parents[2]
CFN_LINT = str(Path(sys.executable).parent / "cfn-lint")


def test_committed_files_match_the_code():
    # Regenerate with: python -m controlplane.template controlplane/control-plane.json
    #                  python -m controlplane.iampolicy controlplane/executor-policy.json
    #                  python -m controlplane.iampolicy --deployer controlplane/deployer-policy.json
    # (make generated)
    assert (ROOT / "controlplane" / "control-plane.json").read_text() == template.render()
    assert (ROOT / "controlplane" / "executor-policy.json").read_text() == iampolicy.render()
    deployer = (ROOT / "controlplane" / "deployer-policy.json").read_text()
    assert deployer == iampolicy.render_deployer()


def test_packaged_template_passes_cfn_lint(packaged):
    done = subprocess.run(
        [CFN_LINT, "--format", "json", str(packaged.out_dir / "sam.json")],
        capture_output=True,
        text=True,
    )
    findings = json.loads(done.stdout or "[]")
    errors = [f for f in findings if f["Level"] == "Error"]
    assert errors == [], errors
    # The only warnings: the empty default subnet and security group lists, which a compute
    # environment needs filled in (SubnetIds, SecurityGroupIds) and which are unused otherwise.
    assert {f["Rule"]["Id"] for f in findings} <= {"W1030"}, findings


def test_one_template_holds_the_whole_control_plane(packaged):
    resources = packaged.template["Resources"]
    types = {name: r["Type"] for name, r in resources.items()}
    assert types["OnTaskFinished"] == types["OnExecutionStatus"] == "AWS::Serverless::Function"
    for name, kind in {
        "Bucket": "AWS::S3::Bucket",
        "Repository": "AWS::ECR::Repository",
        "JobLogGroup": "AWS::Logs::LogGroup",
        "JobRole": "AWS::IAM::Role",
        "ExecutionRole": "AWS::IAM::Role",
        "StateMachineRole": "AWS::IAM::Role",
        "StateMachine": "AWS::StepFunctions::StateMachine",
        "ExecutorPolicy": "AWS::IAM::ManagedPolicy",
        "JobQueue": "AWS::Batch::JobQueue",
        "Ec2ComputeEnvironment": "AWS::Batch::ComputeEnvironment",
        "FargateComputeEnvironment": "AWS::Batch::ComputeEnvironment",
    }.items():
        assert types[name] == kind
    # Every Output named after a setting says which [executors.awsbatch] key it fills.
    for name, key in template.OUTPUT_SETTINGS.items():
        assert packaged.template["Outputs"][name]["Description"].endswith(key)


def test_state_machine_definition_is_build_definition_with_the_stack_partition(packaged):
    definition = packaged.template["Resources"]["StateMachine"]["Properties"]["DefinitionString"]
    text = definition["Fn::Sub"].replace("${AWS::Partition}", "aws-cn")
    assert "${" not in text  # nothing else for Fn::Sub to substitute
    assert json.loads(text) == build_definition("aws-cn")


def test_execution_status_rule_and_handlers_are_bound_to_this_state_machine(packaged):
    resources = packaged.template["Resources"]
    function = resources["OnExecutionStatus"]["Properties"]
    pattern = function["Events"]["OnExecutionStatusEvent"]["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "StateMachine"}]
    for name in ("OnTaskFinished", "OnExecutionStatus"):
        variables = resources[name]["Properties"]["Environment"]["Variables"]
        assert variables["EVENTBATCH_STATE_MACHINE_ARN"] == {"Ref": "StateMachine"}
    task = resources["OnTaskFinished"]["Properties"]["Events"]["OnTaskFinishedEvent"]
    pattern = task["Properties"]["Pattern"]
    assert pattern["source"] == ["covalent.eventbatch"]
    (prefix,) = pattern["detail"]["ExecutionArn"]
    text, variables = prefix["prefix"]["Fn::Sub"]
    assert text.endswith(":execution:${UsedStateMachine}:")
    assert variables == {"UsedStateMachine": {"Fn::GetAtt": ["StateMachine", "Name"]}}


def test_lambda_writes_markers_and_reads_only_pack_manifests(packaged):
    resources = packaged.template["Resources"]
    objects = "arn:${AWS::Partition}:s3:::${UsedBucket}/${S3Prefix}"
    for role in ("OnTaskFinishedRole", "OnExecutionStatusRole"):
        statements = resources[role]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        s3 = {
            s["Action"]: s["Resource"]["Fn::Sub"][0]
            for s in statements
            if "s3" in json.dumps(s["Action"])
        }
        assert s3 == {
            "s3:PutObject": f"{objects}/markers/*",
            "s3:GetObject": f"{objects}/tasks/*/packs/*",
        }


def test_job_role_may_announce_its_own_task_and_nothing_more(packaged):
    role = packaged.template["Resources"]["JobRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    events = [s for s in statements if "events" in json.dumps(s["Action"])]
    assert [s["Action"] for s in events] == ["events:PutEvents"]
    assert "event-bus/default" in json.dumps(events[0]["Resource"])


def test_bucket_is_private_encrypted_and_expires_tasks_and_markers(packaged):
    bucket = packaged.template["Resources"]["Bucket"]["Properties"]
    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    expiring = {
        r["Prefix"]["Fn::Sub"]: r["ExpirationInDays"]
        for r in bucket["LifecycleConfiguration"]["Rules"]
        if "ExpirationInDays" in r
    }
    assert expiring == {
        "${S3Prefix}/tasks/": {"Ref": "ExpireAfterDays"},
        "${S3Prefix}/markers/": {"Ref": "ExpireAfterDays"},
    }


def test_state_machine_role_grants_only_what_the_definition_uses(packaged):
    role = packaged.template["Resources"]["StateMachineRole"]["Properties"]
    statements = role["Policies"][0]["PolicyDocument"]["Statement"]
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    assert actions == {
        "batch:DescribeJobDefinitions",
        "batch:RegisterJobDefinition",
        "batch:TagResource",
        "batch:SubmitJob",
        "batch:DescribeJobs",
        "batch:TerminateJob",
        "events:PutTargets",
        "events:PutRule",
        "events:DescribeRule",
        "events:PutEvents",
        "iam:PassRole",
    }
    # "*" only where the action has no resource-level permissions.
    wildcard = {s["Action"] for s in statements if s["Resource"] == "*"}
    assert wildcard == {"batch:DescribeJobDefinitions", "batch:DescribeJobs"}
    # Each integration the definition calls is covered.
    resources = json.dumps(build_definition("aws"))
    for integration, action in {
        "aws-sdk:batch:describeJobDefinitions": "batch:DescribeJobDefinitions",
        "aws-sdk:batch:registerJobDefinition": "batch:RegisterJobDefinition",
        "batch:submitJob.sync": "batch:SubmitJob",
        "events:putEvents": "events:PutEvents",
    }.items():
        assert integration in resources and action in actions


def test_sam_transform_gives_plain_cloudformation(packaged):
    import copy

    import boto3

    template = copy.deepcopy(packaged.template)
    for name in ("OnTaskFinished", "OnExecutionStatus"):
        # What upload_code does once the zip is in S3.
        template["Resources"][name]["Properties"]["CodeUri"] = {"Bucket": "b", "Key": "k.zip"}
    plain = deploy.transform_locally(template, boto3.session.Session(region_name="us-east-1"))
    types = {r["Type"] for r in plain["Resources"].values()}
    assert not any(t.startswith("AWS::Serverless::") for t in types)
    assert {"AWS::Lambda::Function", "AWS::Events::Rule", "AWS::Lambda::Permission"} <= types


def test_functions_run_on_a_runtime_aws_still_creates_whatever_python_packages(packaged):
    # Chalice writes the packaging interpreter's runtime (python3.11 here); AWS blocks creating
    # python3.11 functions since 2026-07-31. The merge template sets the runtime instead.
    functions = {
        name: r["Properties"]["Runtime"]
        for name, r in packaged.template["Resources"].items()
        if r["Type"] == "AWS::Serverless::Function"
    }
    assert set(functions) == {"OnTaskFinished", "OnExecutionStatus"}
    for runtime in functions.values():
        major, minor = runtime.removeprefix("python").split(".")
        assert (int(major), int(minor)) >= (3, 12), runtime


def test_a_package_aws_would_refuse_stops_before_any_upload(packaged, tmp_path):
    import copy
    import shutil
    import zipfile

    import pytest

    retired = copy.deepcopy(packaged.template)
    retired["Resources"]["OnTaskFinished"]["Properties"]["Runtime"] = "python3.11"
    with pytest.raises(deploy.DeployError, match="OnTaskFinished has runtime 'python3.11'"):
        deploy.check_lambda_package(retired, packaged.zip_path)
    compiled = tmp_path / "deployment.zip"
    shutil.copy(packaged.zip_path, compiled)
    with zipfile.ZipFile(compiled, "a") as z:
        z.writestr("yaml/_yaml.cpython-311-x86_64-linux-gnu.so", b"\0")
    with pytest.raises(deploy.DeployError, match=r"compiled files .*_yaml\.cpython-311"):
        deploy.check_lambda_package(packaged.template, compiled)
    deploy.check_lambda_package(packaged.template, packaged.zip_path)  # the real one passes
