"""Default names and ARNs: one definition, any partition; the Lambda's copy kept equal."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from covalent_eventbatch.chalice_app import app as lambda_app
from covalent_eventbatch.controlplane.iampolicy import Names
from covalent_eventbatch.executor import names
from covalent_eventbatch.executor.settings import ExecutorSettings
from covalent_eventbatch.executor.workflow import job_definition

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("region", "partition"),
    [("us-east-1", "aws"), ("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov")],
)
def test_arns_follow_the_partition_of_the_region(region: str, partition: str) -> None:
    assert names.partition_of(region) == partition
    machine = names.state_machine_arn(partition, region, "123", "m")
    assert machine == f"arn:{partition}:states:{region}:123:stateMachine:m"
    assert names.execution_arn(machine, "e") == f"arn:{partition}:states:{region}:123:execution:m:e"
    assert names.role_arn(partition, "123", "r") == f"arn:{partition}:iam::123:role/r"
    assert names.bucket_arn(partition, "b") == f"arn:{partition}:s3:::b"
    assert names.repository_arn(partition, region, "1", "x") == (
        f"arn:{partition}:ecr:{region}:1:repository/x"
    )
    definition = job_definition(ExecutorSettings.resolve({}), "image", partition, "123", region)
    assert definition["ContainerProperties"]["JobRoleArn"].startswith(f"arn:{partition}:iam::123:")


def test_the_settings_the_policy_and_the_lambda_share_the_default_names() -> None:
    settings, policy = ExecutorSettings(), Names()
    assert (settings.s3_bucket_name, settings.s3_prefix) == (policy.bucket, policy.prefix)
    assert settings.ecr_repo_name == policy.ecr_repo
    assert settings.batch_job_log_group_name == policy.log_group
    assert settings.state_machine_name == policy.state_machine == names.DEFAULT_STATE_MACHINE
    # The Lambda ships alone: its copy of the default state machine name must not drift.
    assert lambda_app.DEFAULT_STATE_MACHINE_NAME == names.DEFAULT_STATE_MACHINE
    assert lambda_app.app.app_name == names.PRODUCT


def test_no_other_module_spells_the_product_name_or_builds_an_arn() -> None:
    parts = ("executor", "controlplane", "dispatchview", "localaws", "statemachine", "container")
    arn = re.compile(r"""f["']arn:""")
    offending = [
        f"{path.relative_to(ROOT)}:{number}"
        for part in parts
        for path in sorted((ROOT / part).rglob("*.py"))
        # The state machine's service integrations (no region, no account) stay in its
        # definition, which the plugin imports and which imports nothing of the plugin.
        if path.name != "names.py" and path != ROOT / "statemachine" / "definition.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"""["'/]covalent-eventbatch(["'/]|-(?!plugin))""", line)
        or (arn.search(line) and "AWS::Partition" not in line)  # CloudFormation's own
    ]
    assert offending == []
