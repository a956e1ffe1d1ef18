"""The capabilities the template needs, as this code reads them and as ValidateTemplate reports
them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.awserrors import classify, error_code, error_message

from .problems import NOT_ALLOWED, Problem

CAPABILITY_IAM = "CAPABILITY_IAM"
CAPABILITY_NAMED_IAM = "CAPABILITY_NAMED_IAM"
CAPABILITY_AUTO_EXPAND = "CAPABILITY_AUTO_EXPAND"
# IAM resources whose name property makes CloudFormation ask for CAPABILITY_NAMED_IAM.
_IAM_NAME_PROPERTIES = (
    "RoleName",
    "UserName",
    "GroupName",
    "InstanceProfileName",
    "ManagedPolicyName",
)


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
        if classify(exc) in NOT_ALLOWED:
            return []
        return [Problem("template", f"{error_code(exc)}: {error_message(exc)}")]
    missing = sorted(set(validated.get("Capabilities") or []) - set(capabilities))
    return [
        Problem(
            "capabilities",
            f"CloudFormation requires {capability} ({validated.get('CapabilitiesReason', '')}), "
            "which this deploy does not acknowledge",
        )
        for capability in missing
    ]
