"""The deployed stack's IAM policies, for the local stack's names.

The local stack is provisioned with API calls rather than CloudFormation, but its principals get
exactly the policies the stack gives them: the documents come from ``controlplane/template.py``
(roles) and ``controlplane/iampolicy.py`` (the executor), with CloudFormation's references
(``Fn::Sub``, ``Ref``, ``Fn::GetAtt ... Arn``) resolved for the local names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from covalent_eventbatch.controlplane import iampolicy, template
from covalent_eventbatch.executor import names
from covalent_eventbatch.executor.settings import ExecutorSettings

# The local stack's principals.
EXECUTOR_USER = "eventbatch-executor"
LAMBDA_ROLE = "CovalentEventBatchLambdaRole"
STATE_MACHINE_ROLE = "CovalentEventBatchStateMachineRole"
STACK_NAME = names.DEFAULT_STACK


@dataclass(frozen=True)
class LocalNames:
    settings: ExecutorSettings
    partition: str
    region: str
    account: str

    def role_arn(self, name: str) -> str:
        return names.role_arn(self.partition, self.account, name)

    def variables(self) -> dict[str, str]:
        s = self.settings
        return {
            "AWS::Partition": self.partition,
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": STACK_NAME,
            "BucketName": s.s3_bucket_name,
            "S3Prefix": s.s3_prefix,
            "EcrRepoName": s.ecr_repo_name,
            "JobDefinitionPrefix": s.batch_job_definition_name,
            "JobQueueName": s.batch_queue,
            "JobRoleName": s.batch_job_role_name,
            "ExecutionRoleName": s.batch_execution_role_name,
            "LogGroupName": s.batch_job_log_group_name,
            "StateMachineName": s.state_machine_name,
            # The template's names in use (its IN_USE variables), which locally are the settings.
            "UsedBucket": s.s3_bucket_name,
            "UsedRepository": s.ecr_repo_name,
            "UsedLogGroup": s.batch_job_log_group_name,
            "UsedJobQueue": s.batch_queue,
            "UsedStateMachine": s.state_machine_name,
            "UsedJobDefinitionPrefix": s.batch_job_definition_name,
        }

    def attributes(self) -> dict[str, str]:
        """Fn::GetAtt [resource, Arn] of the resources the policies refer to."""
        s = self.settings
        return {
            "JobRole": self.role_arn(s.batch_job_role_name),
            "ExecutionRole": self.role_arn(s.batch_execution_role_name),
            "StateMachineRole": self.role_arn(STATE_MACHINE_ROLE),
            "Repository": names.repository_arn(
                self.partition, self.region, self.account, s.ecr_repo_name
            ),
            "StateMachine": names.state_machine_arn(
                self.partition, self.region, self.account, s.state_machine_name
            ),
        }


def resolve(value: Any, names: LocalNames) -> Any:
    """The value with Fn::Sub, Ref and Fn::GetAtt [X, Arn] replaced by local values."""
    variables, attributes = names.variables(), names.attributes()
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    if not isinstance(value, dict):
        return value
    if set(value) == {"Fn::Sub"}:
        # Fn::Sub is TEXT or [TEXT, VARIABLES]; the template's variables are its names in use,
        # which variables() gives already.
        text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
        return re.sub(r"\$\{([^}]+)\}", lambda m: variables[m.group(1)], text)
    if set(value) == {"Ref"}:
        return variables.get(value["Ref"]) or attributes[value["Ref"]]
    if set(value) == {"Fn::GetAtt"}:
        resource, attribute = value["Fn::GetAtt"]
        if attribute != "Arn":
            raise ValueError(f"unsupported Fn::GetAtt {value}")
        return attributes[resource]
    return {k: resolve(v, names) for k, v in value.items()}


def policies_of_role(resource: dict[str, Any], names: LocalNames) -> dict[str, dict[str, Any]]:
    return {
        p["PolicyName"]: resolve(p["PolicyDocument"], names)
        for p in resource["Properties"]["Policies"]
    }


def role_policies(names: LocalNames) -> dict[str, dict[str, dict[str, Any]]]:
    """Role name -> {policy name: document}, as the stack's template gives each role."""
    s = names.settings
    job_roles = template.job_role_resources()
    # One local role runs both handlers: the execution-status function's policy, which holds the
    # task function's statements and DescribeExecution for what status events leave out.
    lambda_role = template.lambda_overrides()[f"{template.EXECUTION_FUNCTION}Role"]
    return {
        s.batch_job_role_name: policies_of_role(job_roles["JobRole"], names),
        s.batch_execution_role_name: policies_of_role(job_roles["ExecutionRole"], names),
        STATE_MACHINE_ROLE: policies_of_role(
            template.state_machine_resources()["StateMachineRole"], names
        ),
        LAMBDA_ROLE: policies_of_role(lambda_role, names),
    }


def executor_policy(names: LocalNames) -> dict[str, Any]:
    s = names.settings
    return iampolicy.policy(
        iampolicy.Names(
            partition=names.partition,
            region=names.region,
            account=names.account,
            bucket=s.s3_bucket_name,
            prefix=s.s3_prefix,
            ecr_repo=s.ecr_repo_name,
            state_machine=s.state_machine_name,
            log_group=s.batch_job_log_group_name,
        )
    )
