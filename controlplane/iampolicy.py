"""The IAM policy the executor's own credentials need (the dispatcher side), as data.

Derived from the calls the executor makes (``storage``, ``markers``, ``registry``, ``workflow``,
``logs``, ``cancel``), as recorded in the end-to-end tests, which fail when the executor makes a
call these statements do not grant; each statement names the module that needs it. The same
statements produce ``controlplane/executor-policy.json`` (default names, any region and
account), the stack's ``ExecutorPolicy`` (exact ARNs) and the actions ``eventbatch doctor``
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


@dataclass(frozen=True)
class Names:
    """The resource names and where they live; '*' for region or account means any."""

    partition: str = "aws"
    region: str = "*"
    account: str = "*"
    bucket: str = "covalent-batch-job-resources"
    prefix: str = "covalent"
    ecr_repo: str = "covalent-batch-job-images"
    state_machine: str = "covalent-eventbatch"
    log_group: str = "covalent-batch-job-logs"

    def arn(self, service: str, resource: str) -> str:
        return f"arn:{self.partition}:{service}:{self.region}:{self.account}:{resource}"

    @property
    def bucket_arn(self) -> str:
        return f"arn:{self.partition}:s3:::{self.bucket}"


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
            "Sid": "RuntimeImage",
            "Effect": "Allow",
            "Action": [
                "ecr:DescribeRepositories",
                "ecr:DescribeImages",
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
            "Resource": f"arn:{n.partition}:iam::{n.account}:role/*",
        },
        {
            "Sid": "DoctorReadsRolePolicies",
            "Effect": "Allow",
            "Action": ["iam:GetPolicy", "iam:GetPolicyVersion"],
            "Resource": f"arn:{n.partition}:iam::{n.account}:policy/*",
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


if __name__ == "__main__":
    text = render()
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
