"""Read calls only: names taken, existing resources missing, the network of a compute environment.

A check the caller may not make (AccessDenied) is reported as not checked and does not stop the
deploy: CloudFormation will still say.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.awserrors import classify, error_code, error_message
from covalent_eventbatch.executor.names import state_machine_arn

from .. import template as control_plane
from .parameters import ROLE_ARN, items
from .problems import NOT_ALLOWED, Problem, Say
from .stack import StackState

MISSING: dict[str, Any] = {}  # what _Probe.call answers when AWS says "no such resource"


class _Probe:
    """Runs read calls; AccessDenied becomes a 'not checked' note instead of a failure."""

    def __init__(self, say: Say) -> None:
        self.say = say

    def call(
        self, what: str, method: Callable[..., Any], missing: Iterable[str] = (), **kwargs: Any
    ) -> Any:
        """The response; MISSING when AWS says it does not exist; None when not allowed to ask."""
        try:
            return method(**kwargs)
        except ClientError as exc:
            code = error_code(exc)
            if code in set(missing):
                return MISSING
            if classify(exc) in NOT_ALLOWED:
                self.say(f"not checked: {what} ({code}; CloudFormation will tell)")
                return None
            raise


def check_account(
    clients: AwsClients, values: Mapping[str, str], stack: StackState, say: Say
) -> list[Problem]:
    """Names taken, existing resources missing, network: read calls only."""
    probe = _Probe(say)
    problems: list[Problem] = []
    problems += _bucket_checks(clients, values, stack, probe)
    problems += _repository_checks(clients, values, stack, probe)
    problems += _role_checks(clients, values, stack, probe)
    problems += _log_group_checks(clients, values, stack, probe)
    problems += _state_machine_checks(clients, values, stack, probe)
    problems += _queue_checks(clients, values, stack, probe)
    if values["ComputeEnvironment"] in ("EC2", "FARGATE"):
        problems += _network_checks(clients, values, probe)
    return problems


def _taken(parameter: str, what: str, existing: str | None = None) -> Problem:
    reuse = f", or use it with -p {existing}=NAME and {parameter} empty" if existing else ""
    return Problem(
        parameter,
        f"{what} already exists and CloudFormation cannot create it again: leave {parameter} "
        f"empty for a generated name, or choose another{reuse}",
    )


def _bucket_checks(
    clients: AwsClients, values: Mapping[str, str], stack: StackState, probe: _Probe
) -> list[Problem]:
    s3 = clients.client("s3")
    problems = []
    wanted = values["BucketName"]
    if wanted and not stack.owns(wanted):
        status, _ = _head_bucket(s3, wanted)
        if status == 200:
            problems.append(_taken("BucketName", f"S3 bucket {wanted}", "ExistingBucketName"))
        elif status == 403:
            problems.append(
                Problem(
                    "BucketName",
                    f"S3 bucket {wanted} exists and is not yours (bucket names are global "
                    "across accounts): leave BucketName empty for a generated name, or choose "
                    "another",
                )
            )
    existing = values["ExistingBucketName"]
    if existing:
        status, region = _head_bucket(s3, existing)
        if status == 404:
            problems.append(Problem("ExistingBucketName", f"no S3 bucket {existing}"))
        elif status == 403:
            problems.append(
                Problem(
                    "ExistingBucketName",
                    f"S3 bucket {existing} is not reachable with these credentials (another "
                    "account's, or no s3:ListBucket on it)",
                )
            )
        elif region and region != clients.region:
            problems.append(
                Problem(
                    "ExistingBucketName",
                    f"S3 bucket {existing} is in {region} and the stack in {clients.region}; "
                    f"the executor needs both in one region: deploy with --region {region}, "
                    "or use a bucket in this region",
                )
            )
    return problems


def _head_bucket(s3: Any, bucket: str) -> tuple[int, str]:
    """HeadBucket's HTTP status (200, 403, 404) and the bucket's region when it tells."""
    try:
        response = s3.head_bucket(Bucket=bucket)
        status = 200
    except ClientError as exc:
        response = exc.response
        status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status not in (403, 404):
            raise
    headers = response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return status, str(response.get("BucketRegion") or headers.get("x-amz-bucket-region") or "")


def _repository_checks(
    clients: AwsClients, values: Mapping[str, str], stack: StackState, probe: _Probe
) -> list[Problem]:
    ecr = clients.client("ecr")
    problems = []
    for parameter in ("EcrRepoName", "ExistingEcrRepoName"):
        name = values[parameter]
        if not name or (parameter == "EcrRepoName" and stack.owns(name)):
            continue
        found = probe.call(
            f"ECR repository {name}",
            ecr.describe_repositories,
            ("RepositoryNotFoundException",),
            repositoryNames=[name],
        )
        if parameter == "EcrRepoName" and found:
            problems.append(_taken(parameter, f"ECR repository {name}", "ExistingEcrRepoName"))
        if parameter == "ExistingEcrRepoName" and found is MISSING:
            problems.append(Problem(parameter, f"no ECR repository {name} in {clients.region}"))
    return problems


def _role_checks(
    clients: AwsClients, values: Mapping[str, str], stack: StackState, probe: _Probe
) -> list[Problem]:
    iam = clients.client("iam")
    problems = []
    for parameter in ("JobRoleName", "ExecutionRoleName"):
        name = values[parameter]
        if not name or stack.owns(name):
            continue
        found = probe.call(f"IAM role {name}", iam.get_role, ("NoSuchEntity",), RoleName=name)
        if found:
            problems.append(_taken(parameter, f"IAM role {name} (role names are per account)"))
    service_role = ROLE_ARN.match(values["BatchServiceRoleArn"])
    if service_role:
        name = service_role.group(1)
        found = probe.call(f"IAM role {name}", iam.get_role, ("NoSuchEntity",), RoleName=name)
        if found is MISSING:
            problems.append(
                Problem(
                    "BatchServiceRoleArn",
                    f"no IAM role {name}; leave it empty for Batch's service-linked role",
                )
            )
    return problems


def _log_group_checks(
    clients: AwsClients, values: Mapping[str, str], stack: StackState, probe: _Probe
) -> list[Problem]:
    logs = clients.client("logs")
    problems = []
    for parameter in ("LogGroupName", "ExistingLogGroupName"):
        name = values[parameter]
        if not name or (parameter == "LogGroupName" and stack.owns(name)):
            continue
        found = probe.call(f"log group {name}", logs.describe_log_groups, logGroupNamePrefix=name)
        if found is None:
            continue
        exists = any(g["logGroupName"] == name for g in found["logGroups"])
        if parameter == "LogGroupName" and exists:
            problems.append(_taken(parameter, f"log group {name}", "ExistingLogGroupName"))
        if parameter == "ExistingLogGroupName" and not exists:
            problems.append(Problem(parameter, f"no log group {name} in {clients.region}"))
    return problems


def _state_machine_checks(
    clients: AwsClients, values: Mapping[str, str], stack: StackState, probe: _Probe
) -> list[Problem]:
    name = values["StateMachineName"]
    if not name or stack.owns(name):
        return []
    arn = state_machine_arn(clients.partition(), clients.region, clients.account_id(), name)
    sfn = clients.client("stepfunctions")
    found = probe.call(
        f"state machine {name}",
        sfn.describe_state_machine,
        ("StateMachineDoesNotExist",),
        stateMachineArn=arn,
    )
    return [_taken("StateMachineName", f"state machine {name}")] if found else []


def _queue_checks(
    clients: AwsClients, values: Mapping[str, str], stack: StackState, probe: _Probe
) -> list[Problem]:
    batch = clients.client("batch")
    creates = values["ComputeEnvironment"] in ("EC2", "FARGATE")
    name = values["JobQueueName"] or ("" if creates else control_plane.DEFAULT_EXISTING_QUEUE)
    if not name or (creates and stack.owns(name)):
        return []
    found = probe.call(f"Batch job queue {name}", batch.describe_job_queues, jobQueues=[name])
    if found is None:
        return []
    queues = found["jobQueues"]
    if creates and queues:
        return [_taken("JobQueueName", f"Batch job queue {name}")]
    if not creates and not queues:
        return [
            Problem(
                "ComputeEnvironment",
                f"NONE uses an existing job queue, and there is no queue {name} in "
                f"{clients.region}: create the compute too (-p ComputeEnvironment=EC2 or "
                "FARGATE, with SubnetIds and SecurityGroupIds), or name your queue with "
                "-p JobQueueName=NAME",
            )
        ]
    return []


def _network_checks(clients: AwsClients, values: Mapping[str, str], probe: _Probe) -> list[Problem]:
    ec2 = clients.client("ec2")
    problems = []
    found: dict[str, list[dict[str, Any]]] = {}
    for parameter, call, key, listed in (
        ("SubnetIds", ec2.describe_subnets, "SubnetIds", "Subnets"),
        ("SecurityGroupIds", ec2.describe_security_groups, "GroupIds", "SecurityGroups"),
    ):
        try:
            found[parameter] = call(**{key: items(values[parameter])})[listed]
        except ClientError as exc:
            if classify(exc) in NOT_ALLOWED:
                probe.say(f"not checked: {parameter} ({error_code(exc)})")
            else:  # InvalidSubnetID.NotFound, InvalidGroup.NotFound, ...Malformed
                message = f"{error_code(exc)}: {error_message(exc)} (in {clients.region})"
                problems.append(Problem(parameter, message))
    vpcs = {s["VpcId"] for s in found.get("SubnetIds", [])}
    strays = [g["GroupId"] for g in found.get("SecurityGroupIds", []) if g.get("VpcId") not in vpcs]
    if vpcs and strays:
        problems.append(
            Problem(
                "SecurityGroupIds",
                f"{', '.join(strays)} not in the subnets' VPC ({', '.join(sorted(vpcs))})",
            )
        )
    return problems
