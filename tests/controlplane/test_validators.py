"""Third-party validators on what the stack deploys: checkov on the template, parliament on
every IAM policy. Each finding is fixed in the product or, where it does not apply, skipped with
its reason (the template's Metadata for checkov, ``PARLIAMENT_ACCEPTED`` here)."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

import boto3
import pytest

from covalent_eventbatch.controlplane import deploy, template
from tests import validator_tools
from tests.controlplane.iam_policies import shipped_policies, template_policies

# parliament findings that do not apply: (issue, action) -> why.
PARLIAMENT_ACCEPTED = {
    ("CREDENTIALS_EXPOSURE", "ecr:getauthorizationtoken"): "docker login to ECR, to push "
    "(executor) and pull (execution role) the runtime image; the action has no resource scope",
    ("RESOURCE_MISMATCH", "states:ListExecutions"): "parliament also wants a mapRun ARN; AWS "
    "takes a state machine's or a map run's, and the sweep lists the state machine's executions",
    ("RESOURCE_MISMATCH", "states:DescribeExecution"): "parliament also wants an express "
    "execution ARN; AWS takes either, and this Standard workflow has only executions",
    ("PERMISSIONS_MANAGEMENT_ACTIONS", "iam:passrole"): "the state machine passes the job and "
    "execution roles (those two only) to the job definitions it registers",
    ("PERMISSIONS_MANAGEMENT_ACTIONS", "sqs:createqueue"): "CreateQueue may set a queue's "
    "policy; the executor creates only its own wake-up queue (no Policy attribute), and the "
    "resource limits it to queues named covalent-eventbatch-wake-*",
    ("INVALID_ARN", "arn:aws:cloudformation:*:aws:transform/Serverless-2016-10-31"): "the "
    "deployer's CreateChangeSet on the SAM transform: AWS's own ARN for it has the account 'aws'",
}

_PARLIAMENT = """
import json, sys
from parliament import analyze_policy_string
out = []
for name, document in json.load(sys.stdin).items():
    policy = analyze_policy_string(json.dumps(document), include_community_auditors=True)
    for finding in policy.findings:
        actions = []
        if isinstance(finding.location, dict):
            actions += finding.location.get("actions") or []
        if isinstance(finding.detail, list):
            actions += [d.get("action") for d in finding.detail if isinstance(d, dict)]
            actions += [d for d in finding.detail if isinstance(d, str)]
        if not actions and isinstance(finding.location, dict) and finding.location.get("string"):
            actions.append(finding.location["string"])  # an ARN, for INVALID_ARN
        out.append({"policy": name, "issue": finding.issue, "actions": actions,
                    "detail": str(finding.detail)})
print(json.dumps(out))
"""


def _checkov(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        [validator_tools.checkov(), "-f", str(path), "--framework", "cloudformation"]
        + ["--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        cwd=path.parent,
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


def _expected_skips() -> set[tuple[str, str]]:
    return {(i, name) for name, skips in template.CHECKOV_SKIPS.items() for i, _ in skips}


def _plain(packaged) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    sam = copy.deepcopy(packaged.template)
    for name in (template.TASK_FUNCTION, template.EXECUTION_FUNCTION):
        sam["Resources"][name]["Properties"]["CodeUri"] = {"Bucket": "b", "Key": "k.zip"}
    return deploy.transform_locally(sam, boto3.session.Session(region_name="us-east-1"))


@pytest.mark.parametrize("form", ["sam", "cloudformation"])
def test_checkov_passes_the_template_each_skip_with_its_reason(packaged, tmp_path, form):
    # As packaged (SAM), and as CloudFormation creates it (after the SAM transform).
    document = packaged.template if form == "sam" else _plain(packaged)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(document, indent=1))
    report = _checkov(path)
    summary = report["summary"]
    assert summary["parsing_errors"] == 0 and summary["passed"] > 50, summary
    failed = [(c["check_id"], c["resource"]) for c in report["results"]["failed_checks"]]
    assert failed == []
    skipped = {
        (c["check_id"], c["resource"].split(".")[-1]) for c in report["results"]["skipped_checks"]
    }
    # Every skip still skips a check that would fail, and has a reason.
    assert skipped == _expected_skips()
    for skips in template.CHECKOV_SKIPS.values():
        assert all(len(why) > 20 for _, why in skips)


def _all_policies(packaged) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    policies = {**shipped_policies(), **template_policies(packaged.template)}
    # Chalice's policy for a plain `chalice deploy`, and the roles the SAM transform generates.
    policies.update({f"transformed {k}": v for k, v in template_policies(_plain(packaged)).items()})
    return policies


def test_every_policy_the_project_ships_or_generates_is_covered(packaged):
    names = set(_all_policies(packaged))
    for expected in (
        "controlplane/executor-policy.json",
        "controlplane/deployer-policy.json",
        ".chalice/policy-markers.json",
        "ExecutorPolicy",
        "JobRole task-objects",
        "ExecutionRole pull-image-write-logs",
        "StateMachineRole submit-batch-jobs",
        "OnTaskFinishedRole write-markers",
        "OnExecutionStatusRole write-markers",
        "BucketPolicy",
        "transformed OnTaskFinishedRole write-markers",
    ):
        assert expected in names


def test_parliament_finds_nothing_that_applies(packaged, tmp_path):
    # Trust policies name no Resource (parliament reads them as malformed identity policies):
    # they are checked below instead.
    policies = {k: v for k, v in _all_policies(packaged).items() if not k.endswith(" trust")}
    done = subprocess.run(
        [validator_tools.validators_python(), "-c", _PARLIAMENT],
        input=json.dumps(policies),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    findings = json.loads(done.stdout)
    unexplained = [
        f
        for f in findings
        if not f["actions"] or any((f["issue"], a) not in PARLIAMENT_ACCEPTED for a in f["actions"])
    ]
    assert unexplained == []
    # Each accepted finding still occurs: a stale entry is removed.
    seen = {(f["issue"], a) for f in findings for a in f["actions"]}
    assert seen == set(PARLIAMENT_ACCEPTED)


def test_parliament_reports_what_it_should(tmp_path):
    """The check above can fail: a typo'd action and a bucket ARN for an object action."""
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObjct", "Resource": "arn:aws:s3:::b/*"},
            {"Effect": "Allow", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::b"},
        ],
    }
    done = subprocess.run(
        [validator_tools.validators_python(), "-c", _PARLIAMENT],
        input=json.dumps({"bad": bad}),
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    issues = {f["issue"] for f in json.loads(done.stdout)}
    assert {"UNKNOWN_ACTION", "RESOURCE_MISMATCH"} <= issues


def test_trust_policies_let_one_aws_service_assume_the_role(packaged):
    trusts = {k: v for k, v in _all_policies(packaged).items() if k.endswith(" trust")}
    assert len(trusts) >= 6
    for name, document in trusts.items():
        assert document["Version"] == "2012-10-17", name
        for statement in document["Statement"]:
            assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole"
            services = statement["Principal"]["Service"]
            services = [services] if isinstance(services, str) else services
            assert set(statement) <= {"Sid", "Effect", "Principal", "Action", "Condition"}
            assert all(s.endswith(".amazonaws.com") for s in services), name


def _handler_permissions() -> dict[str, set[str]]:
    """Per resource type, the permissions AWS publishes for CloudFormation's handlers (the
    resource provider schemas cfn-lint ships), lowercased."""
    import glob

    import cfnlint

    folder = Path(cfnlint.__file__).parent / "data" / "schemas" / "resources"
    found: dict[str, set[str]] = {}
    for path in glob.glob(str(folder / "*.json")):
        try:
            schema = json.loads(Path(path).read_text())
        except (ValueError, UnicodeDecodeError):
            continue
        name = schema.get("typeName") if isinstance(schema, dict) else None
        if name:
            handlers = schema.get("handlers", {})
            found[name] = {p.lower() for h in handlers.values() for p in h.get("permissions", [])}
    return found


def test_the_deployer_policy_covers_every_resource_type_as_aws_documents_it(packaged):
    from covalent_eventbatch.controlplane import iampolicy

    types = {r["Type"] for r in _plain(packaged)["Resources"].values()}
    assert types == set(iampolicy.RESOURCE_TYPE_ACTIONS)
    published = _handler_permissions()
    for kind, actions in iampolicy.RESOURCE_TYPE_ACTIONS.items():
        unknown = {a for a in actions if a.lower() not in published[kind]}
        assert unknown == set(), kind
    granted = {
        a
        for statement in iampolicy.deployer_statements()
        for a in (
            [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]
        )
    }
    needed = {a for actions in iampolicy.RESOURCE_TYPE_ACTIONS.values() for a in actions}
    assert needed <= granted
