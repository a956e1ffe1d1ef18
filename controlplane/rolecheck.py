"""Whether a role's own IAM policies allow an action on a resource, read from IAM.

For ``eventbatch doctor`` where IAM's policy simulator does not answer: the role's inline and
attached policies are read and matched the way IAM matches an Action and a Resource (``*`` and
``?`` wildcards, case-insensitive actions), an explicit Deny winning. Conditions, permission
boundaries and service control policies are not evaluated: a role this finds allowed may still
be refused by those, which the message of the failing call then names.
"""

from __future__ import annotations

import ast
import fnmatch
import json
import urllib.parse
from typing import Any


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def document(raw: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: a dict (boto3 decodes it), or URL-encoded JSON.

    moto's CloudFormation stores a role's inline policies as Python's repr of the dict (the
    local stack's deployed roles): read as a literal when it is not JSON.
    """
    if not isinstance(raw, str):
        return dict(raw)
    text = urllib.parse.unquote(raw)
    try:
        return dict(json.loads(text))
    except ValueError:
        return dict(ast.literal_eval(text))


def role_documents(iam: Any, role_name: str) -> list[dict[str, Any]]:
    """Every inline and attached (default version) policy document of the role."""
    documents = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName=role_name):
        for name in page["PolicyNames"]:
            raw = iam.get_role_policy(RoleName=role_name, PolicyName=name)["PolicyDocument"]
            documents.append(document(raw))
    for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=role_name):
        for attached in page["AttachedPolicies"]:
            arn = attached["PolicyArn"]
            version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]
            raw = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]
            documents.append(document(raw["Document"]))
    return documents


def _matches(statement: dict[str, Any], action: str, resource: str) -> bool:
    actions = _as_list(statement.get("Action"))
    resources = _as_list(statement.get("Resource"))
    return any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in actions) and any(
        fnmatch.fnmatchcase(resource, r) for r in resources
    )


def allows(documents: list[dict[str, Any]], action: str, resource: str) -> bool:
    """Whether the documents allow the action on the resource (an explicit Deny wins)."""
    statements = [s for d in documents for s in _as_list_of_dicts(d.get("Statement"))]
    if any(s.get("Effect") == "Deny" and _matches(s, action, resource) for s in statements):
        return False
    return any(s.get("Effect") == "Allow" and _matches(s, action, resource) for s in statements)


def _as_list_of_dicts(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict):
        return [value]
    return [s for s in value or [] if isinstance(s, dict)]
