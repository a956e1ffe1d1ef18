"""The IAM policy the executor's own credentials need (the dispatcher side), as data.

Derived from the calls the executor makes (``storage``, ``markers``, ``wakeups``, ``registry``,
``workflow``, ``logs``, ``cancel``), as recorded in the end-to-end tests, which fail when the
executor makes a call these statements do not grant; each statement names the module that needs
it. The same statements produce ``controlplane/executor-policy.json`` (default names, any region
and account), the stack's ``ExecutorPolicy`` (exact ARNs) and the actions ``eventbatch doctor``
checks.

Not listed because no permission governs them: ``sts:GetCallerIdentity`` (account id). Not
needed on this side: ``iam:PassRole`` and ``batch:RegisterJobDefinition``/``SubmitJob``, which
the state machine's own role does.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any

from covalent_eventbatch.executor import names


@dataclass(frozen=True)
class Names:
    """The resource names and where they live; '*' for region or account means any."""

    partition: str = "aws"
    region: str = "*"
    account: str = "*"
    bucket: str = names.DEFAULT_BUCKET
    prefix: str = names.DEFAULT_PREFIX
    ecr_repo: str = names.DEFAULT_REPOSITORY
    state_machine: str = names.DEFAULT_STATE_MACHINE
    log_group: str = names.DEFAULT_LOG_GROUP

    def arn(self, service: str, resource: str) -> str:
        return names.arn(self.partition, service, self.region, self.account, resource)

    @property
    def bucket_arn(self) -> str:
        return names.bucket_arn(self.partition, self.bucket)


# (Sid, why, actions, resources) in README order; resources as functions of the names.
def statements(n: Names) -> list[dict[str, Any]]:
    root = f"{n.prefix}/" if n.prefix else ""
    objects = [f"{n.bucket_arn}/{root}tasks/*", f"{n.bucket_arn}/{root}markers/*"]
    return [
        {
            # storage.check_bucket (region check); markers (one listing per dispatch);
            # cleanup lists a dispatch's prefixes. ListBucket also makes S3 answer 404, not 403,
            # for a missing result.pkl or io.json, which storage reads as "none".
            "Sid": "FindBucketListMarkers",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket"],
            "Resource": n.bucket_arn,
        },
        {
            # Upload task.pkl; read result.pkl, io.json and markers; write the fallback marker
            # when an event was lost; 'eventbatch cleanup' deletes a dispatch's objects.
            "Sid": "TaskObjectsAndMarkers",
            "Effect": "Allow",
            "Action": [
                "s3:PutObject",
                "s3:GetObject",
                "s3:DeleteObject",
                "s3:AbortMultipartUpload",
            ],
            "Resource": objects,
        },
        {
            # registry: log in to ECR to push the runtime image (no resource-level control).
            "Sid": "EcrLogin",
            "Effect": "Allow",
            "Action": "ecr:GetAuthorizationToken",
            "Resource": "*",
        },
        {
            # registry: find the repository and the image by its content tag; push it once.
            # The push actions are those AWS lists for pushing to a private repository,
            # BatchGetImage included (engines read the manifest before they push):
            # https://docs.aws.amazon.com/AmazonECR/latest/userguide/image-push-iam.html
            "Sid": "RuntimeImage",
            "Effect": "Allow",
            "Action": [
                "ecr:DescribeRepositories",
                "ecr:DescribeImages",
                "ecr:BatchGetImage",
                "ecr:BatchCheckLayerAvailability",
                "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload",
                "ecr:PutImage",
            ],
            "Resource": n.arn("ecr", f"repository/{n.ecr_repo}"),
        },
        {
            # workflow: check the state machine exists before the first upload, start the task's
            # execution; markers: the lost-event sweep lists RUNNING executions.
            "Sid": "StartExecutions",
            "Effect": "Allow",
            "Action": [
                "states:DescribeStateMachine",
                "states:StartExecution",
                "states:ListExecutions",
            ],
            "Resource": n.arn("states", f"stateMachine:{n.state_machine}"),
        },
        {
            # markers/cancel: the execution's status and history; cancel stops it.
            "Sid": "FollowAndStopExecutions",
            "Effect": "Allow",
            "Action": [
                "states:DescribeExecution",
                "states:GetExecutionHistory",
                "states:StopExecution",
            ],
            "Resource": n.arn("states", f"execution:{n.state_machine}:*"),
        },
        {
            # awsbatch/logs: a container that died before writing io.json is explained by the
            # last lines of its log stream: in the job's group, or Batch's default group where
            # jobs without a log configuration write (the local stack's Batch always does).
            "Sid": "ReadJobLogs",
            "Effect": "Allow",
            "Action": "logs:GetLogEvents",
            "Resource": [
                n.arn("logs", f"log-group:{n.log_group}:log-stream:*"),
                n.arn("logs", "log-group:/aws/batch/job:log-stream:*"),
            ],
        },
        {
            # cancel: make sure the Batch job ends too (job ids are only known at run time).
            "Sid": "TerminateJobOnCancel",
            "Effect": "Allow",
            "Action": "batch:TerminateJob",
            "Resource": n.arn("batch", "job/*"),
        },
        {
            # wakeups: the process's own queue, which the Lambda wakes: create it (tagged with
            # its owner), long-poll it, renew its heartbeat tag, delete it; read the tags of
            # queues left by dead processes and delete those.
            "Sid": "OwnWakeUpQueue",
            "Effect": "Allow",
            "Action": [
                "sqs:CreateQueue",
                "sqs:TagQueue",
                "sqs:ListQueueTags",
                "sqs:ReceiveMessage",
                "sqs:DeleteQueue",
            ],
            "Resource": n.arn("sqs", f"{names.WAKE_QUEUE_PREFIX}*"),
        },
        {
            # wakeups: find the queues left by dead processes (no resource-level control).
            "Sid": "FindWakeUpQueues",
            "Effect": "Allow",
            "Action": "sqs:ListQueues",
            "Resource": "*",
        },
    ]


# Read-only calls 'eventbatch doctor' adds; optional, each missing one is reported as such.
def doctor_statements(n: Names) -> list[dict[str, Any]]:
    return [
        {
            # No resource-level permissions for these (they describe account-wide lists).
            "Sid": "DoctorChecks",
            "Effect": "Allow",
            "Action": [
                "batch:DescribeJobQueues",
                "batch:DescribeComputeEnvironments",
                "iam:SimulatePrincipalPolicy",
                "logs:DescribeLogGroups",
            ],
            "Resource": "*",
        },
        {
            # The job and execution roles, named by settings.
            "Sid": "DoctorChecksScoped",
            "Effect": "Allow",
            "Action": [
                "iam:GetRole",
                # The job role's policies, where IAM's simulator does not answer.
                "iam:ListRolePolicies",
                "iam:GetRolePolicy",
                "iam:ListAttachedRolePolicies",
            ],
            "Resource": names.role_arn(n.partition, n.account, "*"),
        },
        {
            "Sid": "DoctorReadsRolePolicies",
            "Effect": "Allow",
            "Action": ["iam:GetPolicy", "iam:GetPolicyVersion"],
            "Resource": names.arn(n.partition, "iam", "", n.account, "policy/*"),
        },
    ]


# Read-only calls 'eventbatch status' adds to the executor's own reads (markers, ListExecutions,
# DescribeExecution, GetExecutionHistory; 'eventbatch logs' reads under ReadJobLogs); optional.
# DescribeJobs has no resource-level permissions.
STATUS_STATEMENT: dict[str, Any] = {
    "Sid": "DispatchStatus",
    "Effect": "Allow",
    "Action": "batch:DescribeJobs",
    "Resource": "*",
}


def policy(
    names: Names | None = None, with_doctor: bool = True, with_status: bool = True
) -> dict[str, Any]:
    n = names or Names()
    body = statements(n)
    if with_doctor:
        body += doctor_statements(n)
    if with_status:
        body.append(STATUS_STATEMENT)
    return {"Version": "2012-10-17", "Statement": body}


def render() -> str:
    return json.dumps(policy(), indent=2) + "\n"


# --- the person who deploys ---------------------------------------------------------------
#
# ``eventbatch deploy`` calls CloudFormation with the deployer's credentials and gives the stack
# no service role, so CloudFormation creates, updates and deletes every resource with them too.
# Per resource type of the packaged template (after the SAM transform), the actions
# CloudFormation's handlers call for the properties this template sets; a test checks that each
# is among the handler permissions AWS publishes for the type (its resource schema) and that
# every type of the packaged template is listed.

# The stack's own resources get names CloudFormation generates from the stack's name
# (STACK-Resource-RANDOM, lowercased for buckets); the policy is scoped to the default stack
# name's prefix. Deploying under another --stack-name, or naming resources with parameters,
# needs the same statements with those names.
DEFAULT_STACK = names.DEFAULT_STACK

RESOURCE_TYPE_ACTIONS: dict[str, tuple[str, ...]] = {
    "AWS::S3::Bucket": (
        "s3:CreateBucket",
        "s3:DeleteBucket",
        "s3:ListBucket",
        "s3:PutBucketTagging",
        "s3:GetBucketTagging",
        "s3:PutEncryptionConfiguration",
        "s3:GetEncryptionConfiguration",
        "s3:PutLifecycleConfiguration",
        "s3:GetLifecycleConfiguration",
        "s3:PutBucketOwnershipControls",
        "s3:GetBucketOwnershipControls",
        "s3:PutBucketPublicAccessBlock",
        "s3:GetBucketPublicAccessBlock",
    ),
    "AWS::S3::BucketPolicy": ("s3:PutBucketPolicy", "s3:GetBucketPolicy", "s3:DeleteBucketPolicy"),
    "AWS::ECR::Repository": (
        "ecr:CreateRepository",
        "ecr:DeleteRepository",
        "ecr:DescribeRepositories",
        "ecr:PutImageScanningConfiguration",
        "ecr:PutImageTagMutability",
        "ecr:TagResource",
        "ecr:UntagResource",
        "ecr:ListTagsForResource",
    ),
    "AWS::Logs::LogGroup": (
        "logs:CreateLogGroup",
        "logs:DeleteLogGroup",
        "logs:DescribeLogGroups",
        "logs:PutRetentionPolicy",
        "logs:DeleteRetentionPolicy",
        "logs:TagResource",
        "logs:ListTagsForResource",
    ),
    "AWS::IAM::Role": (
        "iam:CreateRole",
        "iam:DeleteRole",
        "iam:GetRole",
        "iam:UpdateRole",
        "iam:UpdateRoleDescription",
        "iam:UpdateAssumeRolePolicy",
        "iam:PutRolePolicy",
        "iam:GetRolePolicy",
        "iam:DeleteRolePolicy",
        "iam:ListRolePolicies",
        "iam:AttachRolePolicy",
        "iam:DetachRolePolicy",
        "iam:ListAttachedRolePolicies",
        "iam:TagRole",
        "iam:UntagRole",
    ),
    "AWS::IAM::ManagedPolicy": (
        "iam:CreatePolicy",
        "iam:DeletePolicy",
        "iam:GetPolicy",
        "iam:GetPolicyVersion",
        "iam:CreatePolicyVersion",
        "iam:DeletePolicyVersion",
        "iam:ListPolicyVersions",
        "iam:ListEntitiesForPolicy",
        # Deleting the stack detaches the ExecutorPolicy from the dispatchers it was given to.
        "iam:DetachUserPolicy",
        "iam:DetachRolePolicy",
        "iam:DetachGroupPolicy",
    ),
    "AWS::IAM::InstanceProfile": (
        "iam:CreateInstanceProfile",
        "iam:DeleteInstanceProfile",
        "iam:GetInstanceProfile",
        "iam:AddRoleToInstanceProfile",
        "iam:RemoveRoleFromInstanceProfile",
    ),
    "AWS::StepFunctions::StateMachine": (
        "states:CreateStateMachine",
        "states:UpdateStateMachine",
        "states:DeleteStateMachine",
        "states:DescribeStateMachine",
        "states:TagResource",
        "states:UntagResource",
        "states:ListTagsForResource",
    ),
    "AWS::Batch::ComputeEnvironment": (
        "batch:CreateComputeEnvironment",
        "batch:UpdateComputeEnvironment",
        "batch:DeleteComputeEnvironment",
        "batch:DescribeComputeEnvironments",
    ),
    "AWS::Batch::JobQueue": (
        "batch:CreateJobQueue",
        "batch:UpdateJobQueue",
        "batch:DeleteJobQueue",
        "batch:DescribeJobQueues",
    ),
    "AWS::Lambda::Function": (
        "lambda:CreateFunction",
        "lambda:DeleteFunction",
        "lambda:GetFunction",
        "lambda:UpdateFunctionCode",
        "lambda:UpdateFunctionConfiguration",
        "lambda:TagResource",
        "lambda:UntagResource",
        "lambda:GetRuntimeManagementConfig",
        "lambda:GetFunctionCodeSigningConfig",
        "lambda:GetFunctionRecursionConfig",
        "s3:GetObject",
        "s3:GetObjectVersion",
    ),
    "AWS::Lambda::Permission": ("lambda:AddPermission", "lambda:RemovePermission"),
    "AWS::Events::Rule": (
        "events:PutRule",
        "events:DeleteRule",
        "events:DescribeRule",
        "events:PutTargets",
        "events:RemoveTargets",
        "events:ListTargetsByRule",
    ),
}

# What ``eventbatch deploy`` asks itself: the checks before deploying, the stack, the artifacts
# bucket (controlplane/preflight.py, controlplane/deploy.py, controlplane/stackevents.py).
# Those with no resource-level control; the name checks (DescribeRepositories, GetRole,
# DescribeStateMachine, HeadBucket) are in NameChecks, on any name of those types.
DEPLOY_READS = (
    "cloudformation:DescribeStacks",
    "cloudformation:ValidateTemplate",
    "logs:DescribeLogGroups",
    "batch:DescribeJobQueues",
    "batch:DescribeComputeEnvironments",
    "ec2:DescribeSubnets",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeVpcs",
)
# Granted in statements of their own: reads without resource-level control (above), and the
# detaching of the stack's policy, whose resource is the user, role or group.
_DETACH = {"iam:DetachUserPolicy", "iam:DetachRolePolicy", "iam:DetachGroupPolicy"}
_UNSCOPED = set(DEPLOY_READS) | _DETACH


def deployer_statements(
    partition: str = "aws", account: str = "*", region: str = "*", stack: str = DEFAULT_STACK
) -> list[dict[str, Any]]:
    """The deployer's statements; ``stack`` is the prefix of the names CloudFormation makes."""
    by_service: dict[str, set[str]] = {}
    for actions in RESOURCE_TYPE_ACTIONS.values():
        for action in actions:
            by_service.setdefault(action.split(":")[0], set()).add(action)
    low = stack.lower()
    scoped = {
        "s3": [names.arn(partition, "s3", "", "", f"{low}-*")],
        "ecr": [names.arn(partition, "ecr", region, account, f"repository/{low}-*")],
        "logs": [names.arn(partition, "logs", region, account, f"log-group:{stack}-*")],
        "iam": [
            names.arn(partition, "iam", "", account, f"role/{stack}-*"),
            names.arn(partition, "iam", "", account, f"policy/{stack}-*"),
            names.arn(partition, "iam", "", account, f"instance-profile/{stack}-*"),
        ],
        # CloudFormation names a state machine LogicalId-RANDOM, without the stack's name.
        "states": [names.arn(partition, "states", region, account, "stateMachine:*")],
        "lambda": [names.arn(partition, "lambda", region, account, f"function:{stack}-*")],
        "events": [names.arn(partition, "events", region, account, f"rule/{stack}-*")],
    }
    artifacts = names.bucket_arn(partition, f"{names.PRODUCT}-artifacts-*")
    statements: list[dict[str, Any]] = [
        {
            # The checks before deploying, and following the stack: reads only. HeadBucket of a
            # name to create is s3:ListBucket, in BucketResources below.
            "Sid": "DeployChecks",
            "Effect": "Allow",
            "Action": sorted(DEPLOY_READS),
            "Resource": "*",
        },
        {
            # Is a name given for a resource to create taken, does one given to reuse exist.
            "Sid": "NameChecks",
            "Effect": "Allow",
            "Action": [
                "ecr:DescribeRepositories",
                "iam:GetRole",
                "s3:ListBucket",
                "states:DescribeStateMachine",
            ],
            "Resource": [
                names.arn(partition, "ecr", region, account, "repository/*"),
                names.arn(partition, "iam", "", account, "role/*"),
                names.arn(partition, "s3", "", "", "*"),
                names.arn(partition, "states", region, account, "stateMachine:*"),
            ],
        },
        {
            "Sid": "Stack",
            "Effect": "Allow",
            "Action": [
                "cloudformation:CreateStack",
                "cloudformation:UpdateStack",
                "cloudformation:DeleteStack",
                "cloudformation:DescribeStackEvents",
                "cloudformation:DescribeStacks",
                "cloudformation:ListStackResources",
            ],
            "Resource": names.arn(partition, "cloudformation", region, account, f"stack/{stack}/*"),
        },
        {
            # The template uses the SAM transform: CloudFormation creates a change set for it.
            "Sid": "SamTransform",
            "Effect": "Allow",
            "Action": "cloudformation:CreateChangeSet",
            "Resource": [
                names.arn(partition, "cloudformation", region, account, f"stack/{stack}/*"),
                names.arn(
                    partition, "cloudformation", region, "aws", "transform/Serverless-2016-10-31"
                ),
            ],
        },
        {
            # The Lambda's code: created private and encrypted when missing, then uploaded to;
            # CloudFormation's Lambda handler reads it from there with these credentials.
            "Sid": "ArtifactsBucket",
            "Effect": "Allow",
            "Action": [
                "s3:CreateBucket",
                "s3:ListBucket",
                "s3:PutBucketPublicAccessBlock",
                "s3:PutEncryptionConfiguration",
                "s3:PutObject",
                "s3:GetObject",
                "s3:GetObjectVersion",
            ],
            "Resource": [artifacts, f"{artifacts}/*"],
        },
    ]
    for service in sorted(by_service):
        if service not in scoped:
            continue  # batch and ec2 below
        statements.append(
            {
                "Sid": f"StackResources{service.capitalize()}",
                "Effect": "Allow",
                "Action": sorted(by_service[service] - _UNSCOPED),
                "Resource": scoped[service],
            }
        )
    statements += [
        {
            # CloudFormation names the compute environments without the stack's prefix.
            "Sid": "StackResourcesBatch",
            "Effect": "Allow",
            "Action": sorted(by_service["batch"] - _UNSCOPED),
            "Resource": [
                names.arn(partition, "batch", region, account, "compute-environment/*"),
                names.arn(partition, "batch", region, account, "job-queue/*"),
            ],
        },
        {
            # The stack's roles go to their services (and nowhere else).
            "Sid": "PassStackRoles",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": names.arn(partition, "iam", "", account, f"role/{stack}-*"),
            "Condition": {
                "StringEquals": {
                    "iam:PassedToService": [
                        "batch.amazonaws.com",
                        "ec2.amazonaws.com",
                        "lambda.amazonaws.com",
                        "states.amazonaws.com",
                    ]
                }
            },
        },
        {
            # Deleting the stack detaches its ExecutorPolicy from whoever was given it.
            "Sid": "DetachStackPolicy",
            "Effect": "Allow",
            "Action": sorted(_DETACH),
            "Resource": [
                names.arn(partition, "iam", "", account, "user/*"),
                names.arn(partition, "iam", "", account, "role/*"),
                names.arn(partition, "iam", "", account, "group/*"),
            ],
            "Condition": {
                "ArnLike": {
                    "iam:PolicyARN": names.arn(partition, "iam", "", account, f"policy/{stack}-*")
                }
            },
        },
        {
            # A first compute environment in the account makes Batch's service-linked role.
            "Sid": "BatchServiceLinkedRole",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": (
                names.arn(
                    partition, "iam", "", account, "role/aws-service-role/batch.amazonaws.com/*"
                )
            ),
            "Condition": {"StringEquals": {"iam:AWSServiceName": "batch.amazonaws.com"}},
        },
    ]
    return statements


def deployer_policy() -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": deployer_statements()}


def render_deployer() -> str:
    return json.dumps(deployer_policy(), indent=2) + "\n"


if __name__ == "__main__":
    # python -m controlplane.iampolicy [--deployer] [FILE]
    args = sys.argv[1:]
    text = render_deployer() if "--deployer" in args else render()
    paths = [a for a in args if a != "--deployer"]
    if paths:
        with open(paths[0], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
