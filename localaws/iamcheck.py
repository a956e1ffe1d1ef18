"""Check recorded AWS calls against their callers' IAM policies, resources included.

moto can enforce IAM on actions, but outside S3 it matches every request's resource against
"*". So the local stack records each request with its caller (``localaws/callrecorder.py``), and
this module turns each into what AWS authorizes — IAM actions on resource ARNs built from the
request's parameters, as AWS's Service Authorization Reference lists them, plus the extra
authorizations some calls imply (``iam:PassRole`` for the roles a job definition names,
``batch:TagResource`` for tags given at creation) — and evaluates them against the caller's
policies as IAM does (an explicit Deny wins; actions match case-insensitively, resources
case-sensitively, with ``*`` and ``?`` wildcards).

A call this module cannot map fails too: an unmapped call is an unchecked one.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Need:
    """One authorization a call needs."""

    action: str
    resource: str


@dataclass
class Verdict:
    call: dict[str, Any]
    need: Need
    statement: str | None  # the Sid (or index) that allowed it; None when nothing did
    excused: str = ""  # why a refusal is expected (a test aimed at a resource not the stack's)
    note: str = ""  # why an allowed call still counts as refused


@dataclass
class Report:
    verdicts: list[Verdict] = field(default_factory=list)
    unmapped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def denied(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.statement is None and not v.excused]

    @property
    def excused(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.statement is None and v.excused]

    def used(self) -> dict[tuple[str, str], set[str]]:
        """(principal, statement) -> the actions calls needed from it."""
        out: dict[tuple[str, str], set[str]] = {}
        for v in self.verdicts:
            if v.statement is not None:
                key = (v.call["principal"], v.statement)
                out.setdefault(key, set()).add(v.need.action)
        return out


# ---------------------------------------------------------------- matching, as IAM does


@functools.lru_cache(maxsize=1024)
def _pattern(text: str, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE)


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _matches(patterns: Iterable[str], value: str, case_sensitive: bool) -> bool:
    return any(_pattern(p, case_sensitive).match(value) for p in patterns)


def statement_applies(statement: dict[str, Any], need: Need) -> bool:
    if "Condition" in statement:
        # The project's policies have none; a condition would need evaluating, not ignoring.
        raise ValueError(f"statement with a Condition is not supported: {statement}")
    if "Action" in statement:
        action_ok = _matches(_listed(statement["Action"]), need.action, False)
    else:
        action_ok = not _matches(_listed(statement["NotAction"]), need.action, False)
    if "Resource" in statement:
        resource_ok = _matches(_listed(statement["Resource"]), need.resource, True)
    else:
        resource_ok = not _matches(_listed(statement["NotResource"]), need.resource, True)
    return action_ok and resource_ok


def evaluate(policies: list[dict[str, Any]], need: Need) -> str | None:
    """The statement allowing need (Sid, else 'POLICY#INDEX'), or None when denied."""
    allowed: str | None = None
    for document in policies:
        statements = document["Statement"]
        statements = [statements] if isinstance(statements, dict) else statements
        for index, statement in enumerate(statements):
            if not statement_applies(statement, need):
                continue
            if statement["Effect"] == "Deny":
                return None
            allowed = allowed or statement.get("Sid") or f"{document.get('_name', '')}#{index}"
    return allowed


# ---------------------------------------------------------------- calls -> what AWS authorizes


def _arn(call: dict[str, Any], service: str, resource: str, region: bool = True) -> str:
    partition = "aws"
    where = f"{call['region'] if region else ''}:{call['account']}"
    return f"arn:{partition}:{service}:{where}:{resource}"


def _name_or_arn(value: str, call: dict[str, Any], service: str, kind: str) -> str:
    return value if value.startswith("arn:") else _arn(call, service, f"{kind}/{value}")


def _s3(call: dict[str, Any]) -> list[Need]:
    action, resource = call.get("s3_action"), call.get("resource", "")
    if not action:
        return []
    if action == "HeadBucket":  # HeadBucket is authorized as s3:ListBucket
        action = "ListBucket"
    if action == "DeleteObject" and call.get("keys") is not None:
        # DeleteObjects: s3:DeleteObject on each key.
        return [Need("s3:DeleteObject", f"{resource}/{key}") for key in call["keys"]]
    return [Need(f"s3:{action}", resource)]


def _states(call: dict[str, Any]) -> list[Need]:
    p, op = call["params"], call["operation"]
    action = f"states:{op}"
    if op in ("StartExecution", "ListExecutions", "DescribeStateMachine", "UpdateStateMachine"):
        return [Need(action, p["stateMachineArn"])]
    if op in ("DescribeExecution", "GetExecutionHistory", "StopExecution"):
        return [Need(action, p["executionArn"])]
    return []


def _ecr(call: dict[str, Any]) -> list[Need]:
    p, op = call["params"], call["operation"]
    action = f"ecr:{op}"
    if op == "GetAuthorizationToken":
        return [Need(action, "*")]
    if op == "DescribeRepositories":
        names = p.get("repositoryNames") or ["*"]
        return [Need(action, _arn(call, "ecr", f"repository/{n}")) for n in names]
    if "repositoryName" in p:
        return [Need(action, _arn(call, "ecr", f"repository/{p['repositoryName']}"))]
    return []


def _roles_in(container: dict[str, Any]) -> list[str]:
    return [container[k] for k in ("jobRoleArn", "executionRoleArn") if container.get(k)]


def _batch(call: dict[str, Any]) -> list[Need]:
    p, op = call["params"], call["operation"]
    action = f"batch:{op}"
    if op in (
        "DescribeJobs",
        "DescribeJobDefinitions",
        "DescribeJobQueues",
        "DescribeComputeEnvironments",
        "ListJobs",
    ):
        return [Need(action, "*")]  # no resource-level permissions
    if op == "TerminateJob":
        return [Need(action, _arn(call, "batch", f"job/{p['jobId']}"))]
    if op == "RegisterJobDefinition":
        definition = _arn(call, "batch", f"job-definition/{p['jobDefinitionName']}")
        needs = [Need(action, definition)]
        needs += [Need("iam:PassRole", r) for r in _roles_in(p.get("containerProperties") or {})]
        if p.get("tags"):
            needs.append(Need("batch:TagResource", definition))
        return needs
    if op == "SubmitJob":
        # Authorized on the job definition and on the job queue, both.
        needs = [
            Need(action, _name_or_arn(p["jobDefinition"], call, "batch", "job-definition")),
            Need(action, _name_or_arn(p["jobQueue"], call, "batch", "job-queue")),
        ]
        if p.get("tags"):  # the job's ARN holds an id not known before the call
            needs.append(Need("batch:TagResource", _arn(call, "batch", "job/NEW-JOB-ID")))
        return needs
    return []


def _events(call: dict[str, Any]) -> list[Need]:
    p, op = call["params"], call["operation"]
    if op == "PutEvents":
        buses = {e.get("EventBusName") or "default" for e in p.get("Entries", [])}
        return [
            Need("events:PutEvents", _name_or_arn(b, call, "events", "event-bus")) for b in buses
        ]
    if op in ("PutRule", "DescribeRule", "DeleteRule"):
        return [Need(f"events:{op}", _arn(call, "events", f"rule/{p['Name']}"))]
    if op in ("PutTargets", "RemoveTargets"):
        return [Need(f"events:{op}", _arn(call, "events", f"rule/{p['Rule']}"))]
    return []


def _logs(call: dict[str, Any]) -> list[Need]:
    p, op = call["params"], call["operation"]
    if op == "GetLogEvents":
        group, stream = p["logGroupName"], p["logStreamName"]
        return [
            Need("logs:GetLogEvents", _arn(call, "logs", f"log-group:{group}:log-stream:{stream}"))
        ]
    if op == "DescribeLogGroups":
        return [Need("logs:DescribeLogGroups", _arn(call, "logs", "log-group:*"))]
    if op in ("CreateLogStream", "PutLogEvents"):
        group = p["logGroupName"]
        return [
            Need(
                f"logs:{op}",
                _arn(call, "logs", f"log-group:{group}:log-stream:{p['logStreamName']}"),
            )
        ]
    return []


def _iam(call: dict[str, Any]) -> list[Need]:
    p, op = call["params"], call["operation"]
    if op in ("GetRole", "ListRolePolicies", "GetRolePolicy", "ListAttachedRolePolicies"):
        return [Need(f"iam:{op}", _arn(call, "iam", f"role/{p['RoleName']}", region=False))]
    if op in ("GetPolicy", "GetPolicyVersion"):
        return [Need(f"iam:{op}", p["PolicyArn"])]
    if op == "SimulatePrincipalPolicy":
        return [Need("iam:SimulatePrincipalPolicy", p["PolicySourceArn"])]
    return []


_MAPPERS = {
    "s3": _s3,
    "states": _states,
    "ecr": _ecr,
    "batch": _batch,
    "events": _events,
    "logs": _logs,
    "iam": _iam,
}
# Calls IAM does not authorize (GetCallerIdentity needs no permission).
_ALWAYS_ALLOWED = {("sts", "GetCallerIdentity")}


# The credential scope's service name -> botocore's, where they differ.
_BOTOCORE_NAMES = {"states": "stepfunctions"}


@functools.lru_cache(maxsize=32)
def _operations(service: str) -> dict[str, str]:
    import botocore.session

    try:
        model = botocore.session.get_session().get_service_model(
            _BOTOCORE_NAMES.get(service, service)
        )
    except Exception:  # noqa: BLE001 - an unknown service: names stay as recorded
        return {}
    return {name.lower(): name for name in model.operation_names}


def canonical(call: dict[str, Any]) -> dict[str, Any]:
    """The call with its operation spelt as the API does (moto names Batch's in lower case)."""
    operation = str(call.get("operation") or "")
    named = _operations(str(call.get("service") or "")).get(operation.lower(), operation)
    return call if named == operation else {**call, "operation": named}


def needs(call: dict[str, Any]) -> list[Need] | None:
    """What AWS authorizes for the call; None when this module does not know the call."""
    call = canonical(call)
    if (call.get("service"), call.get("operation")) in _ALWAYS_ALLOWED:
        return []
    mapper = _MAPPERS.get(call.get("service", ""))
    found = mapper(call) if mapper else []
    return found or None


# ---------------------------------------------------------------- the check


def read_calls(path: str) -> Iterator[dict[str, Any]]:
    with open(path) as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def check(
    calls: Iterable[dict[str, Any]],
    policies: dict[str, list[dict[str, Any]]],
    excused: dict[str, str] | None = None,
    reserved: dict[str, str] | None = None,
) -> Report:
    """Evaluate the calls of the principals in policies (principal ARN -> its documents).

    excused: resource name -> why; a refused need whose resource contains the name is listed
    apart (tests point components at missing or foreign resources on purpose).
    reserved: statement Sid -> the User-Agent token of the only tool it is for (the optional
    DoctorChecks statement: the doctor's); the component itself needing it is a refusal.
    """
    excused, reserved = excused or {}, reserved or {}
    report = Report()
    seen: set[str] = set()
    for call in calls:
        principal = call.get("principal", "")
        if principal not in policies:
            continue
        # Identical calls are judged once: the suite repeats many.
        fingerprint = json.dumps(call, sort_keys=True, default=str)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        found = needs(call)
        if found is None:
            report.unmapped.append(call)
            continue
        for need in found:
            allowed = evaluate(policies[principal], need)
            note = ""
            tool = reserved.get(allowed or "")
            if tool and tool not in call.get("user_agent", ""):
                allowed, note = None, f"statement {allowed} is only for {tool}"
            why = "" if allowed else next((w for n, w in excused.items() if n in need.resource), "")
            report.verdicts.append(Verdict(call, need, allowed, why, note))
    return report


def describe(report: Report, limit: int = 40) -> str:
    lines: list[str] = []
    denied: dict[tuple[str, str, str], Verdict] = {}
    for v in report.denied:
        denied.setdefault((v.call["principal"], v.need.action, v.need.resource), v)
    for (principal, action, resource), v in list(denied.items())[:limit]:
        note = f"; {v.note}" if v.note else ""
        lines.append(
            f"NOT GRANTED {action} on {resource} to {principal} "
            f"(call {v.call.get('service')}:{v.call.get('operation')}{note})"
        )
    for call in report.unmapped[:limit]:
        lines.append(
            f"UNMAPPED {call.get('service')}:{call.get('operation')} by {call.get('principal')}"
            " (teach localaws/iamcheck.py its IAM action and resource)"
        )
    return "\n".join(lines)


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
    documents = [{**_document(d["PolicyDocument"]), "_name": d["PolicyName"]} for d in docs]
    for policy in attached:
        meta = iam.get_policy(PolicyArn=policy["PolicyArn"])["Policy"]
        version = iam.get_policy_version(
            PolicyArn=policy["PolicyArn"], VersionId=meta["DefaultVersionId"]
        )["PolicyVersion"]
        documents.append({**_document(version["Document"]), "_name": policy["PolicyName"]})
    return {arn: documents}


def _document(value: Any) -> dict[str, Any]:
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


def unused(report: Report, policies: dict[str, list[dict[str, Any]]]) -> list[str]:
    """'principal: Sid action' for each statement action no checked call needed."""
    used = report.used()
    lines = []
    for principal, documents in policies.items():
        for document in documents:
            statements = document["Statement"]
            statements = [statements] if isinstance(statements, dict) else statements
            for index, statement in enumerate(statements):
                if statement.get("Effect") != "Allow" or "Action" not in statement:
                    continue
                sid = statement.get("Sid") or f"{document.get('_name', '')}#{index}"
                needed = used.get((principal, sid), set())
                for action in _listed(statement["Action"]):
                    if not any(_pattern(action, False).match(n) for n in needed):
                        lines.append(f"{principal}: {sid} {action}")
    return lines
