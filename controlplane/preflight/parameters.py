"""Every parameter against the template's own constraints and AWS's naming rules, and the
parameters against each other."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from typing import Any

from .. import template as control_plane
from .problems import Problem

# https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cfn-using-console-create-stack-parameters.html
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_IP_ADDRESS = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/(?:[\w+=,.@-]+/)*([\w+=,.@-]{1,64})$")


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
            if not items(values[name]):
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
    if role and not ROLE_ARN.match(role):
        problems.append(
            Problem("BatchServiceRoleArn", f"{role!r} is not an IAM role ARN (or leave it empty)")
        )
    return problems


def items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]
