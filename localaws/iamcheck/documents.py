"""The policies of each principal, read from IAM (inline and attached documents)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any


def all_principals(iam: Any) -> list[str]:
    """The ARNs of every IAM user and role."""
    users = [u["Arn"] for p in iam.get_paginator("list_users").paginate() for u in p["Users"]]
    roles = [r["Arn"] for p in iam.get_paginator("list_roles").paginate() for r in p["Roles"]]
    return users + roles


def principal_policies(iam: Any, principals: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Principal ARN -> its inline and attached policy documents, read from IAM.

    Principals that no longer exist are left out (see all_principals, to keep them before a
    stack is deleted).
    """
    out: dict[str, list[dict[str, Any]]] = {}
    for arn in principals:
        try:
            out.update(_policies_of(iam, arn))
        except iam.exceptions.NoSuchEntityException:
            continue
    return out


def _policies_of(iam: Any, arn: str) -> dict[str, list[dict[str, Any]]]:
    found = re.match(r"arn:[^:]+:iam::\d+:(user|role)/(?:.*/)?([^/]+)$", arn)
    if not found:
        return {}
    kind, name = found.groups()
    if kind == "user":
        inline = iam.list_user_policies(UserName=name)["PolicyNames"]
        docs = [iam.get_user_policy(UserName=name, PolicyName=n) for n in inline]
        attached = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
    else:
        inline = iam.list_role_policies(RoleName=name)["PolicyNames"]
        docs = [iam.get_role_policy(RoleName=name, PolicyName=n) for n in inline]
        attached = iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]
    documents = [{**document(d["PolicyDocument"]), "_name": d["PolicyName"]} for d in docs]
    for policy in attached:
        meta = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]
        version = iam.get_policy_version(
            PolicyArn=policy["PolicyArn"], VersionId=meta["DefaultVersionId"]
        )["PolicyVersion"]
        documents.append({**document(version["Document"]), "_name": policy["PolicyName"]})
    return {arn: documents}


def document(value: Any) -> dict[str, Any]:
    """A policy document as IAM returns it: a dict, or (URL-encoded) JSON text.

    moto's CloudFormation stores a role's inline policies as Python's repr of the dict.
    """
    if not isinstance(value, str):
        return dict(value)
    from urllib.parse import unquote

    text = unquote(value)
    try:
        return dict(json.loads(text))
    except ValueError:
        import ast

        return dict(ast.literal_eval(text))
