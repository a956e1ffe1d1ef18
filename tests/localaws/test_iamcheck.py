"""The recorded-call checker: calls become IAM actions on ARNs, judged as IAM judges them."""

from __future__ import annotations

from covalent_eventbatch.localaws import iamcheck

USER = "arn:aws:iam::123456789012:user/eventbatch-executor"


def _call(service: str, operation: str, **params: object) -> dict:
    return {
        "principal": USER,
        "account": "123456789012",
        "region": "us-east-1",
        "service": service,
        "operation": operation,
        "params": params,
    }


def _policy(*statements: dict) -> list[dict]:
    return [{"Version": "2012-10-17", "Statement": list(statements)}]


def _allow(action: object, resource: object, sid: str = "S") -> dict:
    return {"Sid": sid, "Effect": "Allow", "Action": action, "Resource": resource}


def test_wildcards_match_as_iam_does():
    need = iamcheck.Need("states:DescribeExecution", "arn:aws:states:us-east-1:1:execution:m:x")
    assert iamcheck.evaluate(
        _policy(_allow("states:Describe*", "arn:aws:states:*:*:execution:m:*")), need
    )
    assert iamcheck.evaluate(_policy(_allow("STATES:describeexecution", "*")), need)  # any case
    # Resources are case-sensitive, and '?' is one character.
    assert not iamcheck.evaluate(
        _policy(_allow("states:*", "arn:aws:states:*:*:execution:M:*")), need
    )
    assert iamcheck.evaluate(_policy(_allow("states:*", "arn:aws:states:*:?:execution:m:x")), need)
    assert not iamcheck.evaluate(_policy(_allow("states:StartExecution", "*")), need)


def test_an_explicit_deny_wins():
    need = iamcheck.Need("s3:GetObject", "arn:aws:s3:::b/k")
    deny = {"Effect": "Deny", "Action": "s3:*", "Resource": "*"}
    assert iamcheck.evaluate(_policy(_allow("s3:GetObject", "*"), deny), need) is None


def test_submit_job_needs_the_definition_and_the_queue_and_tagging():
    call = _call(
        "batch",
        "SubmitJob",
        jobName="j",
        jobQueue="covalent-batch-queue",
        jobDefinition="arn:aws:batch:us-east-1:123456789012:job-definition/covalent-batch-jobs-ab:1",
        tags={"a": "b"},
    )
    needs = iamcheck.needs(call)
    assert needs == [
        iamcheck.Need(
            "batch:SubmitJob",
            "arn:aws:batch:us-east-1:123456789012:job-definition/covalent-batch-jobs-ab:1",
        ),
        iamcheck.Need(
            "batch:SubmitJob", "arn:aws:batch:us-east-1:123456789012:job-queue/covalent-batch-queue"
        ),
        iamcheck.Need("batch:TagResource", "arn:aws:batch:us-east-1:123456789012:job/NEW-JOB-ID"),
    ]
    # Allowed on the queue only: the definition is refused.
    policy = {
        USER: _policy(
            _allow("batch:SubmitJob", "arn:aws:batch:*:*:job-queue/covalent-batch-queue"),
            _allow("batch:TagResource", "arn:aws:batch:*:*:job/*", "Tag"),
        )
    }
    report = iamcheck.check([call], policy)
    assert [v.need.resource.rsplit(":", 1)[-1] for v in report.denied] == ["1"]
    assert "NOT GRANTED batch:SubmitJob" in iamcheck.describe(report)


def test_register_job_definition_passes_its_roles():
    call = _call(
        "batch",
        "RegisterJobDefinition",
        jobDefinitionName="d",
        containerProperties={
            "jobRoleArn": "arn:aws:iam::123456789012:role/Job",
            "executionRoleArn": "arn:aws:iam::123456789012:role/Exec",
        },
    )
    actions = [(n.action, n.resource.rsplit("/", 1)[-1]) for n in iamcheck.needs(call) or []]
    assert actions == [
        ("batch:RegisterJobDefinition", "d"),
        ("iam:PassRole", "Job"),
        ("iam:PassRole", "Exec"),
    ]


def test_s3_calls_use_the_action_and_resource_moto_derived():
    base = {"principal": USER, "account": "1", "region": "us-east-1", "service": "s3"}
    head = {**base, "s3_action": "HeadBucket", "resource": "arn:aws:s3:::b"}
    assert iamcheck.needs(head) == [iamcheck.Need("s3:ListBucket", "arn:aws:s3:::b")]
    delete = {
        **base,
        "s3_action": "DeleteObject",
        "resource": "arn:aws:s3:::b",
        "keys": ["x/1", "y"],
    }
    assert iamcheck.needs(delete) == [
        iamcheck.Need("s3:DeleteObject", "arn:aws:s3:::b/x/1"),
        iamcheck.Need("s3:DeleteObject", "arn:aws:s3:::b/y"),
    ]


def test_unknown_calls_are_reported_not_skipped():
    call = _call("lambda", "Invoke", FunctionName="f")
    report = iamcheck.check([call], {USER: _policy(_allow("*", "*"))})
    assert report.unmapped == [call]
    assert "UNMAPPED lambda:Invoke" in iamcheck.describe(report)


def test_other_principals_and_free_calls_are_not_judged():
    anonymous = {
        **_call("states", "StartExecution", stateMachineArn="x"),
        "principal": "key:testing",
    }
    identity = _call("sts", "GetCallerIdentity")
    report = iamcheck.check([anonymous, identity], {USER: _policy()})
    assert report.verdicts == [] and report.unmapped == []


def test_unused_lists_statement_actions_no_call_needed():
    policy = {USER: _policy(_allow(["states:StartExecution", "states:StopExecution"], "*", "Run"))}
    call = _call(
        "states", "StartExecution", stateMachineArn="arn:aws:states:us-east-1:1:stateMachine:m"
    )
    report = iamcheck.check([call], policy)
    assert iamcheck.unused(report, policy) == [f"{USER}: Run states:StopExecution"]


def test_operations_named_in_lower_case_are_recognised():
    # moto names Batch's REST operations by their path ("describejobs").
    call = _call("batch", "describejobs", jobs=["x"])
    assert iamcheck.needs(call) == [iamcheck.Need("batch:DescribeJobs", "*")]


def test_a_statement_reserved_for_a_tool_refuses_the_component():
    policy = {USER: _policy(_allow("batch:DescribeJobQueues", "*", "DoctorChecks"))}
    call = _call("batch", "DescribeJobQueues", jobQueues=["q"])
    by_doctor = {**call, "user_agent": "Boto3/1.35 eventbatch-doctor"}
    reserved = {"DoctorChecks": "eventbatch-doctor"}
    assert iamcheck.check([by_doctor], policy, reserved=reserved).denied == []
    (refused,) = iamcheck.check([call], policy, reserved=reserved).denied
    assert "only for eventbatch-doctor" in iamcheck.describe(iamcheck.Report([refused]))


def test_policy_documents_in_every_form_iam_or_moto_returns():
    doc = {"Version": "2012-10-17", "Statement": [_allow("s3:GetObject", "*")]}
    assert iamcheck.document(doc) == doc
    assert iamcheck.document('{"Version": "2012-10-17", "Statement": []}')["Statement"] == []
    assert iamcheck.document("%7B%22Statement%22%3A%20%5B%5D%7D") == {"Statement": []}
    assert iamcheck.document(repr(doc)) == doc  # moto's CloudFormation keeps Python's repr


def test_the_doctors_reads_of_a_roles_policies_name_the_role_and_the_policy():
    role = "arn:aws:iam::123456789012:role/job"
    policy = "arn:aws:iam::123456789012:policy/announce"
    calls = [
        _call("iam", "ListRolePolicies", RoleName="job"),
        _call("iam", "GetRolePolicy", RoleName="job", PolicyName="inline"),
        _call("iam", "ListAttachedRolePolicies", RoleName="job"),
        _call("iam", "GetPolicy", PolicyArn=policy),
        _call("iam", "GetPolicyVersion", PolicyArn=policy, VersionId="v1"),
    ]
    granted = _policy(
        _allow(["iam:ListRolePolicies", "iam:GetRolePolicy", "iam:ListAttachedRolePolicies"], role),
        _allow(["iam:GetPolicy", "iam:GetPolicyVersion"], "arn:aws:iam::123456789012:policy/*"),
    )
    report = iamcheck.check(calls, {USER: granted})
    assert iamcheck.describe(report) == ""
    refused = iamcheck.check(calls, {USER: _policy(_allow("iam:GetRole", role))})
    assert len(refused.unmapped) == 0 and "iam:GetPolicyVersion" in iamcheck.describe(refused)
