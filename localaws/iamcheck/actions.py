"""Each recorded call as what AWS authorizes: IAM actions on resource ARNs built from the
request's parameters (AWS's Service Authorization Reference), plus the extra authorizations
some calls imply (``iam:PassRole`` for the roles a job definition names, ``batch:TagResource``
for tags given at creation)."""

from __future__ import annotations

import functools
from typing import Any

from covalent_eventbatch.executor import names

from .evaluation import Need


def _arn(call: dict[str, Any], service: str, resource: str, region: bool = True) -> str:
    partition = names.partition_of(call["region"])
    return names.arn(
        partition, service, call["region"] if region else "", call["account"], resource
    )


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


def _sqs(call: dict[str, Any]) -> list[Need]:
    p, op = call["params"], call["operation"]
    if op == "ListQueues":  # no resource-level control
        return [Need("sqs:ListQueues", "*")]
    if op == "CreateQueue":
        queue = _arn(call, "sqs", p["QueueName"])
        # Tags given at creation also need sqs:TagQueue (SQS's CreateQueue API page).
        return [Need("sqs:CreateQueue", queue)] + (
            [Need("sqs:TagQueue", queue)] if p.get("tags") else []
        )
    url = p.get("QueueUrl")
    if not isinstance(url, str):
        return []
    queue = _arn(call, "sqs", url.rstrip("/").rpartition("/")[2])
    # The batch operations are authorized as their single forms.
    action = {"SendMessageBatch": "SendMessage", "DeleteMessageBatch": "DeleteMessage"}.get(op, op)
    return [Need(f"sqs:{action}", queue)]


_MAPPERS = {
    "s3": _s3,
    "states": _states,
    "ecr": _ecr,
    "batch": _batch,
    "events": _events,
    "logs": _logs,
    "iam": _iam,
    "sqs": _sqs,
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
