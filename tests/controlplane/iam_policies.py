"""Every IAM policy the project ships or generates, as plain JSON with example names.

The template's intrinsic functions are resolved with the parameters' defaults and an example
account and region, so a policy linter sees the ARNs a default deploy would give.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PSEUDO = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::StackName": "covalent-eventbatch",
    "AWS::URLSuffix": "amazonaws.com",
}


class _Resolver:
    def __init__(self, template: dict[str, Any]) -> None:
        self.template = template
        self.values = dict(PSEUDO)
        for name, parameter in template.get("Parameters", {}).items():
            self.values[name] = str(parameter.get("Default", ""))

    def ref(self, name: str) -> str:
        if name in self.values:
            return self.values[name]
        resource = self.template["Resources"][name]
        properties = resource.get("Properties", {})
        for key in ("RoleName", "BucketName", "RepositoryName", "StateMachineName", "LogGroupName"):
            if key in properties:
                given = self.resolve(properties[key])
                if given is not None:
                    return str(given)
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            return self.arn("states", f"stateMachine:{self.generated(name)}")
        if resource["Type"] == "AWS::Batch::JobQueue":
            return self.arn("batch", f"job-queue/{self.generated(name)}")
        return self.generated(name)

    def generated(self, name: str) -> str:
        """A name as CloudFormation generates one when the template gives none."""
        return f"{PSEUDO['AWS::StackName']}-{name}-EXAMPLE1234".lower()

    def condition(self, name: str) -> bool:
        return bool(self.evaluate(self.template["Conditions"][name]))

    def evaluate(self, value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"Condition"}:
            return self.condition(value["Condition"])
        if isinstance(value, dict) and set(value) == {"Fn::Equals"}:
            left, right = (self.evaluate(v) for v in value["Fn::Equals"])
            return left == right
        if isinstance(value, dict) and set(value) == {"Fn::Not"}:
            return not self.evaluate(value["Fn::Not"][0])
        if isinstance(value, dict) and set(value) == {"Fn::And"}:
            return all(self.evaluate(v) for v in value["Fn::And"])
        if isinstance(value, dict) and set(value) == {"Fn::Or"}:
            return any(self.evaluate(v) for v in value["Fn::Or"])
        return self.resolve(value)

    def arn(self, service: str, resource: str, region: bool = True) -> str:
        where = f"{PSEUDO['AWS::Region'] if region else ''}:{PSEUDO['AWS::AccountId']}"
        return f"arn:aws:{service}:{where}:{resource}"

    def get_att(self, name: str, attribute: str) -> str:
        kind = self.template["Resources"][name]["Type"]
        if attribute == "Name":
            return self.generated(name)
        assert attribute == "Arn", (name, attribute)
        if kind == "AWS::IAM::Role":
            return self.arn("iam", f"role/{self.ref(name)}", region=False)
        if kind == "AWS::ECR::Repository":
            return self.arn("ecr", f"repository/{self.ref(name)}")
        raise AssertionError(f"no example ARN for {kind}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if set(value) == {"Ref"}:
            return None if value["Ref"] == "AWS::NoValue" else self.ref(value["Ref"])
        if set(value) == {"Fn::GetAtt"}:
            return self.get_att(*value["Fn::GetAtt"])
        if set(value) == {"Fn::If"}:
            condition, when_true, when_false = value["Fn::If"]
            return self.resolve(when_true if self.condition(condition) else when_false)
        if set(value) == {"Fn::Split"}:
            separator, text = value["Fn::Split"]
            return str(self.resolve(text)).split(separator)
        if set(value) == {"Fn::Select"}:
            index, items = value["Fn::Select"]
            return self.resolve(items)[int(index)]
        if set(value) == {"Fn::Sub"}:
            # TEXT, or [TEXT, VARIABLES] whose values are themselves intrinsic functions.
            text, variables = value["Fn::Sub"], {}
            if isinstance(text, list):
                text, variables = text[0], {k: self.resolve(v) for k, v in text[1].items()}
            return re.sub(
                r"\$\{([^}]+)\}",
                lambda m: str(
                    variables[m.group(1)] if m.group(1) in variables else self.ref(m.group(1))
                ),
                text,
            )
        return {k: self.resolve(v) for k, v in value.items()}


def template_policies(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """name -> policy document, for each policy in the template (roles, managed, bucket)."""
    resolver = _Resolver(template)
    found: dict[str, dict[str, Any]] = {}
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            found[f"{name} trust"] = properties["AssumeRolePolicyDocument"]
            for inline in properties.get("Policies", []):
                found[f"{name} {inline['PolicyName']}"] = inline["PolicyDocument"]
        elif resource["Type"] in ("AWS::IAM::ManagedPolicy", "AWS::S3::BucketPolicy"):
            found[name] = properties["PolicyDocument"]
    return {name: resolver.resolve(document) for name, document in found.items()}


def shipped_policies() -> dict[str, dict[str, Any]]:
    """The policy files in the repository."""
    return {
        path: json.loads((ROOT / path).read_text())
        for path in (
            "controlplane/executor-policy.json",
            "controlplane/deployer-policy.json",
            ".chalice/policy-markers.json",
        )
    }
