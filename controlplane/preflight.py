"""What AWS would refuse, found before CloudFormation starts, each with the parameter to change.

A CloudFormation create that fails half way leaves a stack in ROLLBACK_COMPLETE (which can only
be deleted) and, for a bucket kept on delete, a bucket; the reasons come back one resource at a
time. So ``eventbatch deploy`` checks first, with read calls only:

- every parameter against the template's own constraints and AWS's naming rules, and the
  parameters against each other (a compute environment needs subnets and security groups, ...);
- the stack's state (busy, or failed in a way that needs a hand);
- that no name given for a resource to create is taken (HeadBucket, DescribeRepositories,
  GetRole, DescribeLogGroups, DescribeStateMachine, DescribeJobQueues), unless this stack owns
  it, and that every existing resource named for reuse exists (and is in the stack's region);
- the subnets and security groups of a compute environment;
- the capabilities the template needs, as CloudFormation's ValidateTemplate reports them.

A check the caller may not make (AccessDenied) is reported as not checked and does not stop the
deploy: CloudFormation will still say.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from covalent_eventbatch.executor.aws import AwsClients

from . import template as control_plane
from .errors import DeployError

Say = Callable[[str], None]

CAPABILITY_IAM = "CAPABILITY_IAM"
CAPABILITY_NAMED_IAM = "CAPABILITY_NAMED_IAM"
CAPABILITY_AUTO_EXPAND = "CAPABILITY_AUTO_EXPAND"

# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-using-console-create-stack-parameters.html
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_IP_ADDRESS = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$")
_DENIED = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
}
# The stack states deploy replaces (they hold no resource) and those that need a person.
REPLACEABLE = {"ROLLBACK_COMPLETE", "REVIEW_IN_PROGRESS"}
_STUCK = {
    "ROLLBACK_FAILED": "delete it (aws cloudformation delete-stack --stack-name {stack}; add "
    "--retain-resources for what it cannot delete) and deploy again",
    "DELETE_FAILED": "delete it again (aws cloudformation delete-stack --stack-name {stack}; add "
    "--retain-resources for what it cannot delete) and deploy again",
    "UPDATE_ROLLBACK_FAILED": "let CloudFormation finish the rollback (aws cloudformation "
    "continue-update-rollback --stack-name {stack}) and deploy again",
    "IMPORT_ROLLBACK_FAILED": "fix or delete it in the CloudFormation console and deploy again",
}
# IAM resources whose name property makes CloudFormation ask for CAPABILITY_NAMED_IAM.
_IAM_NAME_PROPERTIES = (
    "RoleName",
    "UserName",
    "GroupName",
    "InstanceProfileName",
    "ManagedPolicyName",
)


@dataclass(frozen=True)
class Problem:
    """Why CloudFormation would refuse or fail, and the parameter (or option) to change."""

    parameter: str
    reason: str


@dataclass
class StackState:
    """The stack as it stands: its status, parameters and the physical ids of its resources."""

    name: str
    status: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    owned: set[str] = field(default_factory=set)

    @property
    def updatable(self) -> bool:
        return self.status is not None and self.status not in REPLACEABLE

    def owns(self, name: str) -> bool:
        return name in self.owned

    def problems(self) -> list[Problem]:
        if self.status is None or self.status in REPLACEABLE:
            return []
        if self.status.endswith("_IN_PROGRESS"):
            return [
                Problem(
                    "--stack-name",
                    f"stack {self.name} is {self.status}; wait until it ends (aws cloudformation "
                    f"describe-stacks --stack-name {self.name}, or the console), then deploy "
                    "again",
                )
            ]
        if self.status in _STUCK:
            fix = _STUCK[self.status].format(stack=self.name)
            return [Problem("--stack-name", f"stack {self.name} is {self.status}: {fix}")]
        return []


def read_stack(clients: AwsClients, stack: str) -> StackState:
    cfn = clients.client("cloudformation")
    try:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    except ClientError as exc:
        if "does not exist" in exc.response["Error"].get("Message", ""):
            return StackState(stack)
        raise
    state = StackState(
        stack,
        status=str(described["StackStatus"]),
        parameters={
            p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])
        },
    )
    if state.updatable:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=stack):
            for resource in page["StackResourceSummaries"]:
                physical = resource.get("PhysicalResourceId") or ""
                # A name, or an ARN ending in .../NAME or ...:NAME
                state.owned |= {physical, physical.rsplit("/", 1)[-1], physical.rsplit(":", 1)[-1]}
    return state


def effective_parameters(given: Mapping[str, str], previous: Mapping[str, str]) -> dict[str, str]:
    """What the stack will be deployed with: given > the stack's previous values > defaults."""
    values = {name: str(spec["Default"]) for name, spec in control_plane.PARAMETERS.items()}
    values.update({k: v for k, v in previous.items() if k in values})
    values.update(given)
    return values


def check_stack_name(stack: str) -> list[Problem]:
    if _STACK_NAME.match(stack):
        return []
    return [
        Problem(
            "--stack-name",
            f"{stack!r} is not a stack name CloudFormation accepts: a letter, then letters, "
            "digits or '-', at most 128 characters",
        )
    ]


def check_stack_name_fits(stack: str, values: Mapping[str, str]) -> list[Problem]:
    """The stack's name is the default job definition prefix, which has room for 100."""
    if values["JobDefinitionPrefix"] or len(stack) <= 100:
        return []
    return [
        Problem(
            "JobDefinitionPrefix",
            "the stack's name, its default, is longer than 100 characters: give a shorter "
            "prefix (letters, digits, - and _)",
        )
    ]


def check_given(given: Mapping[str, str]) -> list[Problem]:
    """The given parameters alone (names, each value's constraints): before any AWS call."""
    known = control_plane.PARAMETERS
    problems = [_unknown(name) for name in sorted(set(given) - set(known))]
    for name in sorted(set(given) & set(known)):
        problems += _against_spec(name, known[name], given[name])
    if not problems:
        defaults = {name: str(spec["Default"]) for name, spec in known.items()}
        problems += _bucket_rules({**defaults, **given})
    return problems


def check_artifact_bucket(bucket: str) -> list[Problem]:
    """--artifact-bucket: an S3 bucket name."""
    spec = control_plane.PARAMETERS["BucketName"]
    problems = _against_spec("BucketName", spec, bucket) if bucket else []
    problems += _bucket_rules({"BucketName": bucket, "ExistingBucketName": ""})
    return [Problem("--artifact-bucket", p.reason) for p in problems]


def _unknown(name: str) -> Problem:
    known = list(control_plane.PARAMETERS)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]}?" if close else f"the template takes {', '.join(known)}"
    return Problem(name, f"unknown template parameter; {hint}")


def check_parameters(given: Mapping[str, str], values: Mapping[str, str]) -> list[Problem]:
    """The template's constraints and AWS's naming rules; ``values`` has every parameter."""
    known = control_plane.PARAMETERS
    problems = [_unknown(name) for name in sorted(set(given) - set(known))]
    for name, spec in known.items():
        problems += _against_spec(name, spec, values[name])
    problems += _bucket_rules(values)
    problems += _consistency(values)
    return problems


def _against_spec(name: str, spec: Mapping[str, Any], value: str) -> list[Problem]:
    if spec["Type"] == "Number":
        try:
            number = float(value)
        except ValueError:
            return [Problem(name, f"{value!r} is not a number")]
        if "MinValue" in spec and number < spec["MinValue"]:
            return [Problem(name, f"{value} is less than the minimum, {spec['MinValue']}")]
        if "AllowedValues" in spec and number not in [float(v) for v in spec["AllowedValues"]]:
            allowed = ", ".join(str(v) for v in spec["AllowedValues"])
            return [Problem(name, f"{value} is not one of {allowed}")]
        return []
    if "AllowedValues" in spec and value not in spec["AllowedValues"]:
        return [Problem(name, f"{value!r} is not one of {', '.join(spec['AllowedValues'])}")]
    if "MaxLength" in spec and len(value) > spec["MaxLength"]:
        return [Problem(name, f"longer than {spec['MaxLength']} characters")]
    if "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], value):
        return [Problem(name, f"{value!r} does not match {spec['AllowedPattern']} ({_hint(name)})")]
    return []


def _hint(name: str) -> str:
    return {
        "BucketName": "S3 bucket names: 3-63 of a-z 0-9 . -, starting and ending with a letter "
        "or digit",
        "ExistingBucketName": "an S3 bucket name",
        "EcrRepoName": "ECR: lowercase letters, digits and . _ - /",
        "ExistingEcrRepoName": "an ECR repository name",
        "JobRoleName": "IAM role names: up to 64 of letters, digits and + = , . @ _ -",
        "ExecutionRoleName": "IAM role names: up to 64 of letters, digits and + = , . @ _ -",
        "LogGroupName": "log group names: letters, digits and . _ / # -",
        "ExistingLogGroupName": "a log group name",
        "StateMachineName": "up to 80 letters, digits, - or _",
        "JobQueueName": "up to 128 letters, digits, - or _",
        "JobDefinitionPrefix": "up to 100 letters, digits, - or _",
        "S3Prefix": "no leading or trailing /",
    }.get(name, "see controlplane/control-plane.json")


def _bucket_rules(values: Mapping[str, str]) -> list[Problem]:
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    problems = []
    for name in ("BucketName", "ExistingBucketName"):
        bucket = values[name]
        if not bucket:
            continue
        if ".." in bucket or _IP_ADDRESS.match(bucket):
            problems.append(Problem(name, f"{bucket!r}: no '..' and not an IP address"))
        elif bucket.startswith(("xn--", "sthree-")) or bucket.endswith(("-s3alias", "--ol-s3")):
            problems.append(Problem(name, f"{bucket!r}: a prefix or suffix S3 reserves"))
    return problems


def _consistency(values: Mapping[str, str]) -> list[Problem]:
    problems = []
    for create, existing in (
        ("BucketName", "ExistingBucketName"),
        ("EcrRepoName", "ExistingEcrRepoName"),
        ("LogGroupName", "ExistingLogGroupName"),
    ):
        if values[create] and values[existing]:
            problems.append(
                Problem(
                    create,
                    f"given with {existing}: name the one to create ({create}) or the existing "
                    f"one to use ({existing}), not both",
                )
            )
    compute = values["ComputeEnvironment"]
    if compute in ("EC2", "FARGATE"):
        for name in ("SubnetIds", "SecurityGroupIds"):
            if not _items(values[name]):
                problems.append(
                    Problem(
                        name,
                        f"required with ComputeEnvironment={compute}: "
                        f"-p {name}={'subnet-...,subnet-...' if name == 'SubnetIds' else 'sg-...'}",
                    )
                )
    if values["GpuInstances"] == "true" and compute != "EC2":
        problems.append(
            Problem(
                "GpuInstances",
                f"GPU instances need ComputeEnvironment=EC2 (not {compute}); Fargate has no GPUs",
            )
        )
    role = values["BatchServiceRoleArn"]
    if role and not _ROLE_ARN.match(role):
        problems.append(
            Problem("BatchServiceRoleArn", f"{role!r} is not an IAM role ARN (or leave it empty)")
        )
    return problems


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


# --- read calls ----------------------------------------------------------------------------


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
            code = exc.response["Error"].get("Code", "")
            if code in set(missing):
                return MISSING
            if code in _DENIED:
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
    service_role = _ROLE_ARN.match(values["BatchServiceRoleArn"])
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
    arn = (
        f"arn:{clients.partition()}:states:{clients.region}:{clients.account_id()}:"
        f"stateMachine:{name}"
    )
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
            found[parameter] = call(**{key: _items(values[parameter])})[listed]
        except ClientError as exc:
            error = exc.response["Error"]
            if error.get("Code") in _DENIED:
                probe.say(f"not checked: {parameter} ({error.get('Code')})")
            else:  # InvalidSubnetID.NotFound, InvalidGroup.NotFound, ...Malformed
                message = f"{error.get('Code')}: {error.get('Message')} (in {clients.region})"
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


# --- the template ---------------------------------------------------------------------------


def required_capabilities(template: Mapping[str, Any], values: Mapping[str, str]) -> list[str]:
    """The capabilities CloudFormation will ask for to create this template with these values."""
    resources = template.get("Resources", {}).values()
    iam = [r for r in resources if str(r.get("Type", "")).startswith("AWS::IAM::")]
    needed = []
    if iam:
        needed.append(CAPABILITY_IAM)
    if any(_named(r, values) for r in iam):
        needed.append(CAPABILITY_NAMED_IAM)
    if "Transform" in template:
        needed.append(CAPABILITY_AUTO_EXPAND)
    return needed


def _named(resource: Mapping[str, Any], values: Mapping[str, str]) -> bool:
    properties = resource.get("Properties", {})
    for key in _IAM_NAME_PROPERTIES:
        if key not in properties:
            continue
        value = properties[key]
        # The template's own pattern, Fn::If [NamedX, Ref X, AWS::NoValue]: named when X is.
        choice = value.get("Fn::If") if isinstance(value, dict) else None
        if choice and choice[2] == {"Ref": "AWS::NoValue"} and "Ref" in choice[1]:
            if values.get(choice[1]["Ref"]):
                return True
            continue
        return True
    return False


def check_template(
    clients: AwsClients, template_argument: Mapping[str, str], capabilities: list[str]
) -> list[Problem]:
    """ValidateTemplate: the template is well formed and needs no capability we do not give."""
    cfn = clients.client("cloudformation")
    try:
        validated = cfn.validate_template(**template_argument)
    except ClientError as exc:
        error = exc.response["Error"]
        if error.get("Code") in _DENIED:
            return []
        return [Problem("template", f"{error.get('Code')}: {error.get('Message')}")]
    missing = sorted(set(validated.get("Capabilities") or []) - set(capabilities))
    return [
        Problem(
            "capabilities",
            f"CloudFormation requires {capability} ({validated.get('CapabilitiesReason', '')}), "
            "which this deploy does not acknowledge",
        )
        for capability in missing
    ]


def stop_if(problems: list[Problem], stack: str) -> None:
    """Raise one DeployError listing every problem, before anything is created."""
    if not problems:
        return
    if len(problems) == 1:
        raise DeployError(
            f"Not deploying stack {stack} (nothing was created): {problems[0].parameter}: "
            f"{problems[0].reason}; change it and run 'eventbatch deploy' again"
        )
    lines = "\n".join(f"  - {p.parameter}: {p.reason}" for p in problems)
    raise DeployError(
        f"Not deploying stack {stack}: CloudFormation would refuse it or fail half way. "
        f"Nothing was created. Change these and run 'eventbatch deploy' again:\n{lines}"
    )
