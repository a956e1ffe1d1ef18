"""The control plane's CloudFormation, merged into Chalice's template by ``chalice package``.

``chalice package --merge-template controlplane/control-plane.json OUT`` yields one template for the
whole control plane: Chalice contributes the Lambda functions and their event rules, this module
everything else (bucket, ECR repository, log group, roles, the state machine, optionally a Batch
compute environment and queue) and overrides what Chalice cannot know when packaging: the
Lambda's policy (the bucket's marker prefix only) and the execution-status rule's exact state
machine ARN.

The state machine's definition is ``build_definition`` itself, with the partition left to
CloudFormation (``${AWS::Partition}``), so the template cannot drift from the code. Regenerate
the committed file with ``python -m controlplane.template controlplane/control-plane.json``; a test
fails when it is stale.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from covalent_eventbatch.chalice_app.runtime import LAMBDA_RUNTIME
from covalent_eventbatch.executor import names
from covalent_eventbatch.statemachine.definition import build_definition

from . import iampolicy

# The logical ids Chalice gives the functions and roles of chalice_app/app.py.
TASK_FUNCTION, EXECUTION_FUNCTION = "OnTaskFinished", "OnExecutionStatus"
TASK_EVENT, EXECUTION_EVENT = "OnTaskFinishedEvent", "OnExecutionStatusEvent"

# Output -> [executors.awsbatch] key: what `eventbatch deploy` writes to covalent.conf.
OUTPUT_SETTINGS = {
    "S3BucketName": "s3_bucket_name",
    "S3Prefix": "s3_prefix",
    "EcrRepoName": "ecr_repo_name",
    "BatchJobDefinitionName": "batch_job_definition_name",
    "BatchQueue": "batch_queue",
    "BatchJobRoleName": "batch_job_role_name",
    "BatchExecutionRoleName": "batch_execution_role_name",
    "BatchJobLogGroupName": "batch_job_log_group_name",
    "StateMachineName": "state_machine_name",
    "Region": "region",
    "Platform": "platform",
}

# The queue a stack without its own compute environment uses when JobQueueName is empty: the
# original plugin's (and the executor's) default.
DEFAULT_EXISTING_QUEUE = names.DEFAULT_QUEUE

# Name parameters are empty by default: CloudFormation then generates a unique name, so that a
# stack deploys beside the original plugin's resources (same default names) and beside another
# stack, and a bucket kept after a delete (DeletionPolicy Retain) never blocks the next deploy.
_OPTIONAL = "^$|"
_BUCKET_PATTERN = "^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
_ECR_PATTERN = "^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$"
_ROLE_PATTERN = "^[A-Za-z0-9+=,.@_-]{1,64}$"
_LOG_GROUP_PATTERN = "^[A-Za-z0-9._/#-]{1,512}$"

PARAMETERS: dict[str, dict[str, Any]] = {
    "BucketName": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + _BUCKET_PATTERN,
        "Description": "S3 bucket for task payloads, results and markers, created; empty: a "
        "name CloudFormation generates (S3 names are global).",
    },
    "ExistingBucketName": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + _BUCKET_PATTERN,
        "Description": "An existing bucket (same region) to use instead of creating one; its "
        "policy, encryption and lifecycle stay as they are.",
    },
    "S3Prefix": {
        "Type": "String",
        "Default": "covalent",
        "AllowedPattern": "^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$",
        "Description": "Key prefix of everything the executor writes (no leading/trailing /).",
    },
    "ExpireAfterDays": {
        "Type": "Number",
        "Default": 14,
        "MinValue": 1,
        "Description": "Days after which task objects and markers are deleted.",
    },
    "EcrRepoName": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + _ECR_PATTERN,
        "MaxLength": 256,
        "Description": "ECR repository of the runtime image, created; empty: generated name.",
    },
    "ExistingEcrRepoName": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + _ECR_PATTERN,
        "MaxLength": 256,
        "Description": "An existing ECR repository to use instead of creating one.",
    },
    "JobDefinitionPrefix": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + "^[A-Za-z0-9_-]{1,100}$",
        "Description": "Prefix of the job definitions the state machine registers and may "
        "submit; empty: the stack's name (stacks side by side, and the original plugin's "
        "covalent-batch-jobs, stay apart).",
    },
    "JobQueueName": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + "^[A-Za-z0-9_-]{1,128}$",
        "Description": "Batch job queue. ComputeEnvironment EC2 or FARGATE: the queue created "
        f"(empty: generated name). NONE: an existing queue (empty: {DEFAULT_EXISTING_QUEUE}).",
    },
    "JobRoleName": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + _ROLE_PATTERN,
        "Description": "Role the tasks run with, created; empty: generated name (a name "
        "needs CAPABILITY_NAMED_IAM).",
    },
    "ExecutionRoleName": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + _ROLE_PATTERN,
        "Description": "Role Batch uses to pull the image and write logs, created; empty: "
        "generated name.",
    },
    "LogGroupName": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + _LOG_GROUP_PATTERN,
        "Description": "CloudWatch Logs group of the job containers, created; empty: "
        "generated name.",
    },
    "ExistingLogGroupName": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + _LOG_GROUP_PATTERN,
        "Description": "An existing log group to use instead of creating one.",
    },
    "LogRetentionDays": {
        "Type": "Number",
        "Default": 30,
        "AllowedValues": [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731],
        "Description": "Days the job logs are kept (created log group only).",
    },
    "StateMachineName": {
        "Type": "String",
        "Default": "",
        "AllowedPattern": _OPTIONAL + "^[A-Za-z0-9_-]{1,80}$",
        "Description": "Name of the state machine, created; empty: generated name.",
    },
    "ComputeEnvironment": {
        "Type": "String",
        "Default": "NONE",
        "AllowedValues": ["NONE", "EC2", "FARGATE"],
        "Description": "Create a managed Batch compute environment and the job queue "
        "(EC2 or FARGATE), or NONE to use an existing queue named JobQueueName.",
    },
    "GpuInstances": {
        "Type": "String",
        "Default": "false",
        "AllowedValues": ["true", "false"],
        "Description": "EC2 only: GPU instances (GpuInstanceTypes) with the ECS GPU AMI.",
    },
    "InstanceTypes": {
        "Type": "CommaDelimitedList",
        "Default": "optimal",
        "Description": "EC2 only, without GPUs: instance types or families.",
    },
    "GpuInstanceTypes": {
        "Type": "CommaDelimitedList",
        "Default": "g4dn,g5",
        "Description": "EC2 only, with GPUs: instance types or families.",
    },
    "MaxVcpus": {
        "Type": "Number",
        "Default": 256,
        "MinValue": 1,
        "Description": "Upper bound of the compute environment's vCPUs.",
    },
    "BatchServiceRoleArn": {
        "Type": "String",
        "Default": "",
        "Description": "Service role of the compute environment; empty uses Batch's "
        "service-linked role (recommended).",
    },
    "SubnetIds": {
        "Type": "CommaDelimitedList",
        "Default": "",
        "Description": "Subnets of the compute environment (required with EC2 or FARGATE).",
    },
    "SecurityGroupIds": {
        "Type": "CommaDelimitedList",
        "Default": "",
        "Description": "Security groups of the compute environment (outbound HTTPS needed).",
    },
}

_CONDITIONS: dict[str, Any] = {
    "CreateEc2": {"Fn::Equals": [{"Ref": "ComputeEnvironment"}, "EC2"]},
    "CreateFargate": {"Fn::Equals": [{"Ref": "ComputeEnvironment"}, "FARGATE"]},
    "CreateCompute": {"Fn::Or": [{"Condition": "CreateEc2"}, {"Condition": "CreateFargate"}]},
    "HasServiceRole": {"Fn::Not": [{"Fn::Equals": [{"Ref": "BatchServiceRoleArn"}, ""]}]},
    "UseGpu": {
        "Fn::And": [{"Condition": "CreateEc2"}, {"Fn::Equals": [{"Ref": "GpuInstances"}, "true"]}]
    },
    "CreateBucket": {"Fn::Equals": [{"Ref": "ExistingBucketName"}, ""]},
    "CreateRepository": {"Fn::Equals": [{"Ref": "ExistingEcrRepoName"}, ""]},
    "CreateLogGroup": {"Fn::Equals": [{"Ref": "ExistingLogGroupName"}, ""]},
    **{
        f"Named{parameter}": {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, ""]}]}
        for parameter in (
            "BucketName",
            "EcrRepoName",
            "JobQueueName",
            "JobRoleName",
            "ExecutionRoleName",
            "LogGroupName",
            "StateMachineName",
            "JobDefinitionPrefix",
        )
    },
}


def _name(parameter: str) -> dict[str, Any]:
    """A resource's name property: the parameter, or none (CloudFormation generates one)."""
    return {"Fn::If": [f"Named{parameter}", {"Ref": parameter}, {"Ref": "AWS::NoValue"}]}


# The names in use, created or existing: what policies, ARNs and Outputs refer to. Fn::Sub
# variables of their own, so that no text depends on whether a name was given or generated.
IN_USE: dict[str, Any] = {
    "UsedBucket": {"Fn::If": ["CreateBucket", {"Ref": "Bucket"}, {"Ref": "ExistingBucketName"}]},
    "UsedRepository": {
        "Fn::If": ["CreateRepository", {"Ref": "Repository"}, {"Ref": "ExistingEcrRepoName"}]
    },
    "UsedLogGroup": {
        "Fn::If": ["CreateLogGroup", {"Ref": "JobLogGroup"}, {"Ref": "ExistingLogGroupName"}]
    },
    "UsedJobQueue": {
        "Fn::If": [
            "CreateCompute",
            # Ref of a job queue is its ARN, arn:...:job-queue/NAME.
            {"Fn::Select": [1, {"Fn::Split": ["/", {"Ref": "JobQueue"}]}]},
            {
                "Fn::If": [
                    "NamedJobQueueName",
                    {"Ref": "JobQueueName"},
                    DEFAULT_EXISTING_QUEUE,
                ]
            },
        ]
    },
    "UsedStateMachine": {"Fn::GetAtt": ["StateMachine", "Name"]},
    "UsedJobDefinitionPrefix": {
        "Fn::If": [
            "NamedJobDefinitionPrefix",
            {"Ref": "JobDefinitionPrefix"},
            {"Ref": "AWS::StackName"},
        ]
    },
}


def _sub(text: str) -> dict[str, Any]:
    """Fn::Sub of text, with the variables of IN_USE that it refers to (and only those: a
    variable is a dependency, and the state machine's definition must not depend on itself)."""
    used = {name: value for name, value in IN_USE.items() if f"${{{name}}}" in text}
    return {"Fn::Sub": [text, used] if used else text}


def _arn(service: str, resource: str, region: bool = True, account: bool = True) -> dict:
    where = ("${AWS::Region}" if region else "") + ":" + ("${AWS::AccountId}" if account else "")
    return _sub(f"arn:${{AWS::Partition}}:{service}:{where}:{resource}")


def _assume(service: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
        ],
    }


def _policy(name: str, statements: list[dict[str, Any]]) -> dict[str, Any]:
    document = {"Version": "2012-10-17", "Statement": statements}
    return {"PolicyName": name, "PolicyDocument": document}


_OBJECTS = "arn:${AWS::Partition}:s3:::${UsedBucket}/${S3Prefix}"


def _storage() -> dict[str, Any]:
    return {
        "Bucket": {
            "Type": "AWS::S3::Bucket",
            "Condition": "CreateBucket",
            # Kept when the stack is deleted (it holds results). A generated name never
            # collides with a kept bucket; `eventbatch deploy` also deletes a bucket that a
            # failed first create made (RetainExceptOnCreate).
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": {
                "BucketName": _name("BucketName"),
                "BucketEncryption": {
                    "ServerSideEncryptionConfiguration": [
                        {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
                    ]
                },
                "PublicAccessBlockConfiguration": {
                    "BlockPublicAcls": True,
                    "BlockPublicPolicy": True,
                    "IgnorePublicAcls": True,
                    "RestrictPublicBuckets": True,
                },
                "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                "LifecycleConfiguration": {
                    "Rules": [
                        {
                            "Id": f"expire-{part}",
                            "Status": "Enabled",
                            "Prefix": _sub(f"${{S3Prefix}}/{part}/"),
                            "ExpirationInDays": {"Ref": "ExpireAfterDays"},
                        }
                        for part in ("tasks", "markers")
                    ]
                    + [
                        {
                            "Id": "abort-incomplete-uploads",
                            "Status": "Enabled",
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                        }
                    ]
                },
                "Tags": [{"Key": "application", "Value": names.PRODUCT}],
            },
        },
        "BucketPolicy": {
            "Type": "AWS::S3::BucketPolicy",
            "Condition": "CreateBucket",
            "Properties": {
                "Bucket": {"Ref": "Bucket"},
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "DenyInsecureTransport",
                            "Effect": "Deny",
                            "Principal": "*",
                            "Action": "s3:*",
                            "Resource": [
                                _sub("arn:${AWS::Partition}:s3:::${Bucket}"),
                                _sub("arn:${AWS::Partition}:s3:::${Bucket}/*"),
                            ],
                            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                        }
                    ],
                },
            },
        },
        "Repository": {
            "Type": "AWS::ECR::Repository",
            "Condition": "CreateRepository",
            "Properties": {
                "RepositoryName": _name("EcrRepoName"),
                # Runtime images are rebuilt on demand: deleting the stack may delete them.
                "EmptyOnDelete": True,
                "ImageScanningConfiguration": {"ScanOnPush": True},
                # Tags are content hashes that job definitions name: nobody may repoint one.
                "ImageTagMutability": "IMMUTABLE",
                "Tags": [{"Key": "application", "Value": names.PRODUCT}],
            },
        },
        "JobLogGroup": {
            "Type": "AWS::Logs::LogGroup",
            "Condition": "CreateLogGroup",
            "Properties": {
                "LogGroupName": _name("LogGroupName"),
                "RetentionInDays": {"Ref": "LogRetentionDays"},
            },
        },
    }


def job_role_resources() -> dict[str, Any]:
    return {
        "JobRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": _name("JobRoleName"),
                "Description": "Covalent tasks on AWS Batch: read the task, write its result.",
                "AssumeRolePolicyDocument": _assume("ecs-tasks.amazonaws.com"),
                "Policies": [
                    _policy(
                        "task-objects",
                        [
                            {
                                "Sid": "ReadTaskWriteResult",
                                "Effect": "Allow",
                                "Action": ["s3:GetObject", "s3:PutObject"],
                                "Resource": _sub(f"{_OBJECTS}/tasks/*"),
                            },
                            {
                                # Every job's container announces its own electron.
                                "Sid": "AnnounceOwnTaskFinished",
                                "Effect": "Allow",
                                "Action": "events:PutEvents",
                                "Resource": _arn("events", "event-bus/default"),
                            },
                        ],
                    )
                ],
            },
        },
        "ExecutionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": _name("ExecutionRoleName"),
                "Description": "AWS Batch: pull the runtime image, write the job's logs.",
                "AssumeRolePolicyDocument": _assume("ecs-tasks.amazonaws.com"),
                "Policies": [
                    _policy(
                        "pull-image-write-logs",
                        [
                            {
                                "Sid": "EcrLogin",
                                "Effect": "Allow",
                                "Action": "ecr:GetAuthorizationToken",
                                "Resource": "*",
                            },
                            {
                                "Sid": "PullRuntimeImage",
                                "Effect": "Allow",
                                "Action": [
                                    "ecr:BatchGetImage",
                                    "ecr:GetDownloadUrlForLayer",
                                    "ecr:BatchCheckLayerAvailability",
                                ],
                                "Resource": _arn("ecr", "repository/${UsedRepository}"),
                            },
                            {
                                "Sid": "WriteJobLogs",
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": _arn("logs", "log-group:${UsedLogGroup}:*"),
                            },
                        ],
                    )
                ],
            },
        },
    }


def state_machine_resources() -> dict[str, Any]:
    definitions = _arn("batch", "job-definition/${UsedJobDefinitionPrefix}*")
    role_statements: list[dict[str, Any]] = [
        {
            # FindJobDefinition; DescribeJobDefinitions has no resource-level permissions.
            "Sid": "FindJobDefinition",
            "Effect": "Allow",
            "Action": "batch:DescribeJobDefinitions",
            "Resource": "*",
        },
        {
            "Sid": "RegisterJobDefinition",
            "Effect": "Allow",
            "Action": "batch:RegisterJobDefinition",
            "Resource": definitions,
        },
        {
            # Tags given to RegisterJobDefinition and SubmitJob are applied with TagResource.
            "Sid": "TagOnCreate",
            "Effect": "Allow",
            "Action": "batch:TagResource",
            "Resource": [definitions, _arn("batch", "job/*")],
        },
        {
            # The Service Authorization Reference lists job, job-definition and job-queue as
            # SubmitJob's required resource types (the job: the new job's own ARN).
            "Sid": "SubmitJob",
            "Effect": "Allow",
            "Action": "batch:SubmitJob",
            "Resource": [
                definitions,
                _arn("batch", "job-queue/${UsedJobQueue}"),
                _arn("batch", "job/*"),
            ],
        },
        {
            # .sync: Step Functions follows the job, and terminates it when the execution stops.
            "Sid": "FollowJob",
            "Effect": "Allow",
            "Action": "batch:DescribeJobs",
            "Resource": "*",
        },
        {
            "Sid": "TerminateJobOnStop",
            "Effect": "Allow",
            "Action": "batch:TerminateJob",
            "Resource": _arn("batch", "job/*"),
        },
        {
            # .sync for Batch: the managed rule Step Functions creates to hear of job changes.
            "Sid": "SyncIntegrationRule",
            "Effect": "Allow",
            "Action": ["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            "Resource": _arn("events", "rule/StepFunctionsGetEventsForBatchJobsRule"),
        },
        {
            "Sid": "AnnounceTaskFinished",
            "Effect": "Allow",
            "Action": "events:PutEvents",
            "Resource": _arn("events", "event-bus/default"),
        },
        {
            "Sid": "PassJobRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": [
                {"Fn::GetAtt": ["JobRole", "Arn"]},
                {"Fn::GetAtt": ["ExecutionRole", "Arn"]},
            ],
        },
    ]
    definition = json.dumps(build_definition("${AWS::Partition}"), indent=2, sort_keys=True)
    return {
        "StateMachineRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "Covalent EventBatch state machine: job definitions, Batch jobs, "
                "the Task Finished event.",
                "AssumeRolePolicyDocument": _assume("states.amazonaws.com"),
                "Policies": [_policy("submit-batch-jobs", role_statements)],
            },
        },
        "StateMachine": {
            "Type": "AWS::StepFunctions::StateMachine",
            "Properties": {
                "StateMachineName": _name("StateMachineName"),
                "StateMachineType": "STANDARD",  # .sync integrations need a Standard workflow
                "RoleArn": {"Fn::GetAtt": ["StateMachineRole", "Arn"]},
                "DefinitionString": _sub(definition),
                "Tags": [{"Key": "application", "Value": names.PRODUCT}],
            },
        },
    }


def _subs(value: Any) -> Any:
    """Wrap every string holding a ${...} reference in Fn::Sub."""
    if isinstance(value, dict):
        return {k: _subs(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_subs(v) for v in value]
    if isinstance(value, str) and "${" in value:
        return _sub(value)
    return value


def _executor_policy() -> dict[str, Any]:
    """controlplane/executor-policy.json with this stack's exact ARNs, for the executor's users."""
    names = iampolicy.Names(
        partition="${AWS::Partition}",
        region="${AWS::Region}",
        account="${AWS::AccountId}",
        bucket="${UsedBucket}",
        prefix="${S3Prefix}",
        ecr_repo="${UsedRepository}",
        state_machine="${UsedStateMachine}",
        log_group="${UsedLogGroup}",
    )
    return {
        "ExecutorPolicy": {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": "What the Covalent executor (dispatcher side) needs; attach it to "
                "the users or roles that dispatch.",
                "PolicyDocument": _subs(iampolicy.policy(names)),
            },
        }
    }


def _compute() -> dict[str, Any]:
    network = {
        "Subnets": {"Ref": "SubnetIds"},
        "SecurityGroupIds": {"Ref": "SecurityGroupIds"},
    }
    service_role = {
        "Fn::If": ["HasServiceRole", {"Ref": "BatchServiceRoleArn"}, {"Ref": "AWS::NoValue"}]
    }
    return {
        "InstanceRole": {
            "Type": "AWS::IAM::Role",
            "Condition": "CreateEc2",
            "Properties": {
                "AssumeRolePolicyDocument": _assume("ec2.amazonaws.com"),
                "ManagedPolicyArns": [
                    _sub(
                        "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                        "AmazonEC2ContainerServiceforEC2Role"
                    )
                ],
            },
        },
        "InstanceProfile": {
            "Type": "AWS::IAM::InstanceProfile",
            "Condition": "CreateEc2",
            "Properties": {"Roles": [{"Ref": "InstanceRole"}]},
        },
        "Ec2ComputeEnvironment": {
            "Type": "AWS::Batch::ComputeEnvironment",
            "Condition": "CreateEc2",
            "Properties": {
                "Type": "MANAGED",
                "State": "ENABLED",
                "ServiceRole": service_role,
                "ComputeResources": {
                    "Type": "EC2",
                    "AllocationStrategy": "BEST_FIT_PROGRESSIVE",
                    "MinvCpus": 0,
                    "MaxvCpus": {"Ref": "MaxVcpus"},
                    "InstanceTypes": {
                        "Fn::If": ["UseGpu", {"Ref": "GpuInstanceTypes"}, {"Ref": "InstanceTypes"}]
                    },
                    "InstanceRole": {"Fn::GetAtt": ["InstanceProfile", "Arn"]},
                    "Ec2Configuration": [
                        {"ImageType": {"Fn::If": ["UseGpu", "ECS_AL2_NVIDIA", "ECS_AL2023"]}}
                    ],
                    **network,
                },
            },
        },
        "FargateComputeEnvironment": {
            "Type": "AWS::Batch::ComputeEnvironment",
            "Condition": "CreateFargate",
            "Properties": {
                "Type": "MANAGED",
                "State": "ENABLED",
                "ServiceRole": service_role,
                "ComputeResources": {"Type": "FARGATE", "MaxvCpus": {"Ref": "MaxVcpus"}, **network},
            },
        },
        "JobQueue": {
            "Type": "AWS::Batch::JobQueue",
            "Condition": "CreateCompute",
            "Properties": {
                "JobQueueName": _name("JobQueueName"),
                "State": "ENABLED",
                "Priority": 1,
                "ComputeEnvironmentOrder": [
                    {
                        "Order": 1,
                        "ComputeEnvironment": {
                            "Fn::If": [
                                "CreateEc2",
                                {"Ref": "Ec2ComputeEnvironment"},
                                {"Ref": "FargateComputeEnvironment"},
                            ]
                        },
                    }
                ],
            },
        },
    }


def lambda_overrides() -> dict[str, Any]:
    """What the merge changes in Chalice's resources (a deep merge: lists are replaced)."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "WriteCompletionMarkers",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": _sub(f"{_OBJECTS}/markers/*"),
        },
        {
            # A pack's end: its manifest says which marker each array child owes.
            "Sid": "ReadPackManifests",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": _sub(f"{_OBJECTS}/tasks/*/packs/*"),
        },
        {
            # ...Batch's list of the children, and the failed ones' log streams (no
            # resource-level control for either).
            "Sid": "ListArrayChildren",
            "Effect": "Allow",
            "Action": ["batch:ListJobs", "batch:DescribeJobs"],
            "Resource": "*",
        },
        {
            # A pack too large to record in one invocation: the rest is handed on in an event.
            "Sid": "HandOnPackMarkers",
            "Effect": "Allow",
            "Action": "events:PutEvents",
            "Resource": _arn("events", "event-bus/default"),
        },
        {
            # A marker written: wake the dispatcher process that waits for it, through the
            # queue its execution names; only queues the executor's policy lets it create.
            "Sid": "WakeWaitingProcesses",
            "Effect": "Allow",
            "Action": "sqs:SendMessage",
            "Resource": _arn("sqs", f"{names.WAKE_QUEUE_PREFIX}*"),
        },
        {
            "Sid": "OwnLogs",
            "Effect": "Allow",
            "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": _arn("logs", "log-group:/aws/lambda/${AWS::StackName}-*"),
        },
    ]
    policy = [_policy("write-markers", statements)]
    # An execution status event may lack the input (AWS leaves it out of large events), the
    # output or the error and cause: the handler then reads them with DescribeExecution.
    describe = {
        "Sid": "DescribeOwnExecutions",
        "Effect": "Allow",
        "Action": "states:DescribeExecution",
        "Resource": _arn("states", "execution:${UsedStateMachine}:*"),
    }
    execution_policy = [_policy("write-markers", [*statements, describe])]
    environment = {"Variables": {"EVENTBATCH_STATE_MACHINE_ARN": {"Ref": "StateMachine"}}}
    return {
        f"{TASK_FUNCTION}Role": {"Properties": {"Policies": policy}},
        f"{EXECUTION_FUNCTION}Role": {"Properties": {"Policies": execution_policy}},
        TASK_FUNCTION: {
            "Properties": {
                # Chalice writes the packaging interpreter's runtime, which AWS may no longer
                # accept.
                "Runtime": LAMBDA_RUNTIME,
                "Environment": environment,
                "Events": {
                    # Only this stack's tasks: stacks side by side each hear their own (the
                    # handler checks again; this saves the other stacks' invocations).
                    TASK_EVENT: {
                        "Properties": {
                            "Pattern": {
                                "detail": {
                                    "ExecutionArn": [
                                        {
                                            "prefix": _sub(
                                                "arn:${AWS::Partition}:states:${AWS::Region}:"
                                                "${AWS::AccountId}:execution:${UsedStateMachine}:"
                                            )
                                        }
                                    ]
                                }
                            }
                        }
                    }
                },
            }
        },
        EXECUTION_FUNCTION: {
            "Properties": {
                "Runtime": LAMBDA_RUNTIME,
                "Environment": environment,
                "Events": {
                    EXECUTION_EVENT: {
                        "Properties": {
                            "Pattern": {"detail": {"stateMachineArn": [{"Ref": "StateMachine"}]}}
                        }
                    }
                },
            }
        },
    }


def _outputs() -> dict[str, Any]:
    values: dict[str, Any] = {
        "S3BucketName": IN_USE["UsedBucket"],
        "S3Prefix": {"Ref": "S3Prefix"},
        "EcrRepoName": IN_USE["UsedRepository"],
        "BatchJobDefinitionName": IN_USE["UsedJobDefinitionPrefix"],
        "BatchQueue": IN_USE["UsedJobQueue"],
        "BatchJobRoleName": {"Ref": "JobRole"},
        "BatchExecutionRoleName": {"Ref": "ExecutionRole"},
        "BatchJobLogGroupName": IN_USE["UsedLogGroup"],
        "StateMachineName": IN_USE["UsedStateMachine"],
        "Region": {"Ref": "AWS::Region"},
        "Platform": {"Fn::If": ["CreateFargate", "FARGATE", "EC2"]},
    }
    outputs = {
        name: {"Description": f"[executors.awsbatch] {OUTPUT_SETTINGS[name]}", "Value": value}
        for name, value in values.items()
    }
    outputs["ExecutorPolicyArn"] = {
        "Description": "Managed policy to attach to the users or roles that dispatch",
        "Value": {"Ref": "ExecutorPolicy"},
    }
    outputs["StateMachineArn"] = {
        "Description": "The state machine (executions are named DISPATCHID-NODEID)",
        "Value": {"Ref": "StateMachine"},
    }
    return outputs


# checkov findings that do not apply, with the reason; every other check passes
# (tests/controlplane/test_validators.py). Applied as each resource's Metadata.
_LAMBDA_SKIPS = [
    (
        "CKV_AWS_116",
        "No DLQ: a lost completion event is recovered by the executor's DescribeExecution sweep.",
    ),
    ("CKV_AWS_117", "No VPC: the handler only writes to S3 and needs no network of its own."),
    (
        "CKV_AWS_115",
        "No reserved concurrency: reserving fails in accounts whose concurrency quota is low.",
    ),
    ("CKV_AWS_173", "The one variable is the state machine ARN, no secret; AWS encrypts it."),
]
CHECKOV_SKIPS: dict[str, list[tuple[str, str]]] = {
    TASK_FUNCTION: _LAMBDA_SKIPS,
    EXECUTION_FUNCTION: _LAMBDA_SKIPS,
    "Bucket": [
        ("CKV_AWS_18", "Transient task objects expire; use CloudTrail data events to audit."),
        ("CKV_AWS_21", "Objects are written once and expire: versions would keep dead payloads."),
    ],
    "Repository": [
        ("CKV_AWS_136", "ECR encrypts images with AES-256; they hold code, no secrets."),
    ],
    "JobLogGroup": [
        ("CKV_AWS_158", "Encrypted by CloudWatch Logs; set a KMS key on the group if required."),
    ],
}


def _with_checkov_skips(resources: dict[str, Any]) -> dict[str, Any]:
    for name, skips in CHECKOV_SKIPS.items():
        metadata = resources[name].setdefault("Metadata", {})
        metadata["checkov"] = {"skip": [{"id": i, "comment": why} for i, why in skips]}
    return resources


def merge_template() -> dict[str, Any]:
    """The template ``chalice package --merge-template`` merges into Chalice's own."""
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Covalent EventBatch control plane: state machine, Lambda and event rules, "
        "bucket, ECR repository, roles, optionally a Batch compute environment and queue.",
        "Parameters": PARAMETERS,
        "Conditions": _CONDITIONS,
        "Resources": _with_checkov_skips(
            {
                **_storage(),
                **job_role_resources(),
                **state_machine_resources(),
                **_executor_policy(),
                **_compute(),
                **lambda_overrides(),
            }
        ),
        "Outputs": _outputs(),
    }


def render() -> str:
    return json.dumps(merge_template(), indent=2) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if argv:
        with open(argv[0], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
