"""``eventbatch doctor`` reports each missing permission of the executor's policy, in turn.

A moto server of its own, in this process, with IAM enforcement switched on once the resources
exist: the doctor runs as an IAM user whose policy is controlplane/executor-policy.json less one
action.
moto checks resources only for S3; for the other services it matches every request against
"*", so the non-S3 statements are given "*" here (the actions are what is tested).
moto answers iam:SimulatePrincipalPolicy with an error, so the doctor falls back to its probes,
as it does for a caller not allowed to simulate.
"""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from covalent_eventbatch.controlplane import doctor, iampolicy
from covalent_eventbatch.executor.aws import AwsClients
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.localaws.provision import provision

pytestmark = pytest.mark.e2e

USER = "eventbatch-dispatcher"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AuthMoto:
    def __init__(self, tmp: Path) -> None:
        from moto import settings as moto_settings
        from moto.server import ThreadedMotoServer

        self.moto_settings = moto_settings
        self.endpoint = f"http://127.0.0.1:{_free_port()}"
        self.server = ThreadedMotoServer(
            ip_address="127.0.0.1", port=int(self.endpoint.rsplit(":", 1)[1]), verbose=False
        )
        self.server.start()
        self.credentials = tmp / "credentials"
        self.credentials.write_text(
            "[default]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
        )
        self.admin = AwsClients(str(self.credentials), "default", "us-east-1", self.endpoint)
        self.settings = ExecutorSettings.resolve(
            {
                "credentials": str(self.credentials),
                "profile": USER,
                "region": "us-east-1",
                "endpoint_url": self.endpoint,
                "s3_bucket_name": "eventbatch-permissions",
                "container_image_uri": "registry.example/runtime:1",  # no Docker check
            }
        )
        provision(self.admin, self.settings)
        iam = self.admin.client("iam")
        iam.create_user(UserName=USER)
        key = iam.create_access_key(UserName=USER)["AccessKey"]
        with open(self.credentials, "a") as f:
            f.write(
                f"[{USER}]\naws_access_key_id = {key['AccessKeyId']}\n"
                f"aws_secret_access_key = {key['SecretAccessKey']}\n"
            )

    def doctor_as_user(self, policy: dict) -> dict[str, doctor.Check]:
        self.admin.client("iam").put_user_policy(
            UserName=USER, PolicyName="executor", PolicyDocument=json.dumps(policy)
        )
        self.moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = 0  # enforce IAM from now on
        try:
            return {c.name: c for c in doctor.run(self.settings)}
        finally:
            self.moto_settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")

    def stop(self) -> None:
        self.server.stop()


@pytest.fixture(scope="module")
def moto_auth(tmp_path_factory):
    server = AuthMoto(tmp_path_factory.mktemp("auth-moto"))
    yield server
    server.stop()


def _policy(without: str = "") -> dict:
    names = iampolicy.Names(bucket="eventbatch-permissions")
    statements = []
    for statement in iampolicy.policy(names)["Statement"]:
        statement = dict(statement)
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else list(actions)
        statement["Action"] = [a for a in actions if a != without]
        if not statement["Action"]:
            continue
        if not statement["Action"][0].startswith("s3:"):
            statement["Resource"] = "*"  # moto matches non-S3 requests against "*" only
        # moto names Batch's REST actions in lower case ("batch:describejobqueues") and
        # compares case-sensitively; AWS compares action names case-insensitively.
        statement["Action"] += [a.lower() for a in statement["Action"] if a.startswith("batch:")]
        statements.append(statement)
    return {"Version": "2012-10-17", "Statement": statements}


def _failed(checks):
    return {name for name, c in checks.items() if c.status == doctor.FAIL}


def test_the_full_policy_passes(moto_auth):
    checks = moto_auth.doctor_as_user(_policy())
    assert _failed(checks) == set(), [c.line() for c in checks.values()]
    assert checks["credentials"].detail.endswith(f"user/{USER}")


@pytest.mark.parametrize(
    ("action", "statement", "also_failing"),
    [
        ("s3:GetBucketLocation", "FindBucketListMarkers", {"S3 bucket"}),
        ("s3:ListBucket", "FindBucketListMarkers", set()),
        ("s3:PutObject", "TaskObjectsAndMarkers", set()),
        ("s3:GetObject", "TaskObjectsAndMarkers", set()),
        ("s3:DeleteObject", "TaskObjectsAndMarkers", set()),
        ("ecr:GetAuthorizationToken", "EcrLogin", set()),
        ("ecr:DescribeRepositories", "RuntimeImage", {"ECR repository"}),
        ("ecr:DescribeImages", "RuntimeImage", set()),
        # AWS lists it for pushing to a private repository (engines read the manifest first).
        ("ecr:BatchGetImage", "RuntimeImage", set()),
        ("states:ListExecutions", "StartExecutions", set()),
        # The executor checks its state machine before the first task: not an optional action.
        ("states:DescribeStateMachine", "StartExecutions", {"state machine"}),
    ],
)
def test_each_missing_permission_is_reported(moto_auth, action, statement, also_failing):
    checks = moto_auth.doctor_as_user(_policy(without=action))
    line = f"permission {statement}"
    assert _failed(checks) == {line} | also_failing, [c.line() for c in checks.values()]
    assert action in checks[line].detail
    assert f"statement {statement} of controlplane/executor-policy.json" in checks[line].fix
    assert doctor.exit_status(list(checks.values())) == 1
