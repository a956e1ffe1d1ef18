"""Rows from recorded documents: the stage each Batch status means, totals, dollar estimates."""

from __future__ import annotations

import pytest

from covalent_eventbatch.dispatchview.pricing import FARGATE_RATES, Prices
from covalent_eventbatch.dispatchview.reads import NodeRecord, Snapshot
from covalent_eventbatch.dispatchview.rows import dispatch_status, electron_row
from covalent_eventbatch.executor.settings import ExecutorSettings

NOW = 1_700_000_100_000
SETTINGS = ExecutorSettings(region="us-east-1")


def _snapshot(*records: NodeRecord, region: str = "us-east-1") -> Snapshot:
    return Snapshot(
        "d",
        region,
        "aws",
        "arn:aws:states:us-east-1:1:stateMachine:m",
        NOW,
        {r.node_id: r for r in records},
    )


def _job(status: str, **extra: object) -> dict:
    job = {
        "jobId": "j",
        "status": status,
        "createdAt": NOW - 60_000,
        "container": {
            "resourceRequirements": [
                {"type": "VCPU", "value": "2"},
                {"type": "MEMORY", "value": "4096"},
            ]
        },
        "attempts": [],
    }
    job.update(extra)
    return job


@pytest.mark.parametrize(
    ("status", "stage"),
    [
        ("SUBMITTED", "job submitted"),
        ("PENDING", "job submitted"),
        ("RUNNABLE", "waiting for capacity"),
        ("STARTING", "starting container"),
        ("RUNNING", "running"),
        ("SUCCEEDED", "finishing"),
    ],
)
def test_a_running_execution_takes_its_stage_from_the_batch_job(status: str, stage: str) -> None:
    record = NodeRecord(
        1, execution_arn="arn:e", execution_status="RUNNING", job_id="j", job=_job(status)
    )
    row = electron_row(
        record, _snapshot(record), SETTINGS, Prices.for_region(SETTINGS, "us-east-1")
    )
    assert (row.stage, row.ended) == (stage, False)


def test_waiting_for_capacity_counts_queued_time_up_to_now() -> None:
    record = NodeRecord(1, execution_status="RUNNING", job_id="j", job=_job("RUNNABLE"))
    row = electron_row(record, _snapshot(record), SETTINGS, Prices.for_region(SETTINGS, "x"))
    assert row.queued_seconds == 60
    assert row.running_seconds == 0


def test_a_running_job_counts_its_attempt_so_far() -> None:
    record = NodeRecord(
        1, execution_status="RUNNING", job_id="j", job=_job("RUNNING", startedAt=NOW - 20_000)
    )
    row = electron_row(record, _snapshot(record), SETTINGS, Prices.for_region(SETTINGS, "x"))
    assert (row.queued_seconds, row.running_seconds, row.attempts) == (40, 20, 1)
    assert row.usage is not None and row.usage["vcpu_seconds"] == 40
    assert not row.usage_recorded


def test_an_execution_that_ended_without_a_marker_says_so() -> None:
    record = NodeRecord(1, execution_arn="arn:e", execution_status="ABORTED")
    row = electron_row(record, _snapshot(record), SETTINGS, Prices.for_region(SETTINGS, "x"))
    assert (row.stage, row.ended, row.outcome) == ("stopped (no marker)", True, "stopped")


def _ended(
    node_id: int, vcpu_seconds: float, gib_seconds: float, platform: str | None
) -> NodeRecord:
    usage = {
        "vcpu_seconds": vcpu_seconds,
        "gib_seconds": gib_seconds,
        "gpu_seconds": 0.0,
        "seconds": vcpu_seconds,
        "platform": platform,
        "attempts": [],
    }
    marker = {"status": "SUCCEEDED", "attempts": 1, "usage": usage, "job_id": f"j{node_id}"}
    return NodeRecord(node_id, marker=marker, job_id=f"j{node_id}")


def test_the_dispatch_total_is_the_sum_of_its_rows_and_fargate_is_priced() -> None:
    records = [
        _ended(1, 3600.0, 7200.0, "FARGATE"),
        _ended(2, 0.1, 0.2, "FARGATE"),
        _ended(3, 0.2, 0.1, "FARGATE"),
    ]
    status = dispatch_status(_snapshot(*records), SETTINGS)
    vcpu, gb = FARGATE_RATES["us-east-1"]
    assert status.electrons[0].estimated_cost_usd == pytest.approx(vcpu + 2 * gb)
    for key in ("vcpu_seconds", "gib_seconds"):
        assert status.total[key] == pytest.approx(sum(r.usage[key] for r in status.electrons))
    assert status.total["vcpu_seconds"] == 3600.3  # rounded, so 0.1 + 0.2 shows as 0.3
    assert status.total["estimated_cost_usd"] == pytest.approx(
        sum(r.estimated_cost_usd for r in status.electrons)
    )
    assert status.all_ended and "estimates" in status.estimates


def test_ec2_is_priced_only_when_the_user_sets_a_vcpu_hour_price() -> None:
    record = _ended(1, 7200.0, 1.0, "EC2")
    assert dispatch_status(_snapshot(record), SETTINGS).total["estimated_cost_usd"] is None
    priced = ExecutorSettings(region="us-east-1", ec2_vcpu_hour_usd=0.05)
    status = dispatch_status(_snapshot(record), priced)
    assert status.total["estimated_cost_usd"] == pytest.approx(0.1)
    assert "your ec2_vcpu_hour_usd" in status.prices


def test_regions_without_a_published_rate_have_no_fargate_estimate_unless_set() -> None:
    record = _ended(1, 3600.0, 3600.0, "FARGATE")
    status = dispatch_status(_snapshot(record, region="ap-south-2"), SETTINGS)
    assert status.total["estimated_cost_usd"] is None
    assert "no published rate for ap-south-2" in status.prices
    own = ExecutorSettings(region="ap-south-2", fargate_vcpu_hour_usd=0.1, fargate_gb_hour_usd=0.01)
    status = dispatch_status(_snapshot(record, region="ap-south-2"), own)
    assert status.total["estimated_cost_usd"] == pytest.approx(0.11)


def test_a_negative_price_is_refused_with_its_key() -> None:
    from covalent_eventbatch.executor.errors import InvalidSettingError

    with pytest.raises(InvalidSettingError, match="ec2_vcpu_hour_usd"):
        ExecutorSettings.resolve({"ec2_vcpu_hour_usd": -1})


def test_each_attempt_shows_how_it_ended() -> None:
    from rich.console import Console

    from covalent_eventbatch.dispatchview.render import table

    reclaimed = "Host EC2 (instance i-0abc) terminated."
    attempts = [
        {
            "startedAt": NOW - 50_000,
            "stoppedAt": NOW - 40_000,
            "statusReason": reclaimed,
            "container": {"logStreamName": "a"},
        },
        {
            "startedAt": NOW - 30_000,
            "stoppedAt": NOW - 20_000,
            "statusReason": "Essential container in task exited",
            "container": {"exitCode": 0, "logStreamName": "b"},
        },
    ]
    record = NodeRecord(
        1,
        execution_status="SUCCEEDED",
        job_id="j",
        job=_job("SUCCEEDED", attempts=attempts),
        marker={"status": "SUCCEEDED", "attempts": 2},
    )
    row = electron_row(record, _snapshot(record), SETTINGS, Prices.for_region(SETTINGS, "x"))
    assert row.attempt_endings == [reclaimed, "exit 0; Essential container in task exited"]
    console = Console(width=200, record=True)
    console.print(table(dispatch_status(_snapshot(record), SETTINGS)))
    shown = console.export_text()
    assert f"node 1: attempt 1 {reclaimed}" in shown
    assert "node 1: attempt 2 exit 0; Essential container in task exited" in shown
