"""The benchmark's pure parts: statistics, request counting and charging, the targets."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest

from benchmarks import stats
from benchmarks.counting import Charging, Request, RequestCounter, aggregate, by_operation
from benchmarks.report import targets


def test_percentiles_interpolate_between_ranks() -> None:
    values = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert stats.median(values) == 3.0
    assert stats.percentile(values, 95) == pytest.approx(4.8)
    assert stats.percentile([7.0], 95) == 7.0
    assert math.isnan(stats.median([]))
    with pytest.raises(ValueError):
        stats.percentile(values, 101)


def test_ratio_of_zero_baseline_is_nan() -> None:
    assert stats.ratio(1.0, 4.0) == 0.25
    assert math.isnan(stats.ratio(1.0, 0.0))


def test_counter_records_service_and_operation_from_the_event_name() -> None:
    counter = RequestCounter()
    registered = {}
    counter.attach(SimpleNamespace(events=SimpleNamespace(register=registered.__setitem__)))
    handler = registered["before-send"]
    handler(event_name="before-send.s3.ListObjectsV2", request=object())
    handler(event_name="before-send.sfn.StartExecution", request=object())
    assert [(r.service, r.operation) for r in counter.requests] == [
        ("s3", "ListObjectsV2"),
        ("sfn", "StartExecution"),
    ]


def _requests(pairs: list[tuple[float, str, str]]) -> list[Request]:
    return [Request(at, service, operation) for at, service, operation in pairs]


def test_aggregate_separates_setup_shared_and_per_task_requests() -> None:
    charging = Charging(
        setup=frozenset({("ecr", "*"), ("sts", "GetCallerIdentity")}),
        shared=frozenset({("s3", "ListObjectsV2")}),
        awaiting=frozenset({("s3", "ListObjectsV2")}),
    )
    requests = _requests(
        [(0, "ecr", "DescribeImages"), (0, "sts", "GetCallerIdentity")]
        + [(t, "s3", "PutObject") for t in (1, 1)]
        + [(t, "sfn", "StartExecution") for t in (1, 1)]
        + [(t, "s3", "ListObjectsV2") for t in range(2, 12)]
    )
    counts = aggregate(requests, charging, tasks=2, window_s=10.0)
    assert counts["setup"] == 2
    assert counts["shared"] == 10
    assert counts["per_task_attributable"] == 2.0  # PutObject + StartExecution
    assert counts["per_task_amortized"] == 7.0  # plus half of the ten listings
    assert counts["per_task_with_setup"] == 8.0
    assert counts["batch_requests"] == 0
    assert counts["awaiting_per_s"] == 1.0
    assert counts["awaiting_per_s_by_operation"] == {"s3:ListObjectsV2": 1.0}
    assert counts["by_operation"]["s3:ListObjectsV2"] == 10
    assert list(by_operation(requests))[0] == "s3:ListObjectsV2"  # most frequent first


def test_polling_requests_are_per_task_and_counted_as_batch() -> None:
    charging = Charging(awaiting=frozenset({("batch", "DescribeJobs")}))
    requests = _requests([(t, "batch", "DescribeJobs") for t in range(13)])
    counts = aggregate(requests, charging, tasks=1, window_s=120.0)
    assert counts["per_task_attributable"] == counts["per_task_amortized"] == 13.0
    assert counts["batch_requests"] == 13


def _summary(executor: str, duration: float, attributable: float, amortized: float) -> dict:
    return {
        "executor": executor,
        "duration": duration,
        "requests": {
            "per_task_attributable": attributable,
            "per_task_amortized": amortized,
            "batch_requests": 0 if executor == "ours" else 10,
            "awaiting_per_s": 1.1,
            "awaiting_per_s_by_operation": {"s3:ListObjectsV2": 1.0, "sfn:ListExecutions": 0.1},
        },
    }


def test_targets_report_each_one_met_or_not() -> None:
    scenarios = [
        {
            "tasks": 50,
            "duration": d,
            "ours": _summary("ours", d, 6.0, 6.0 + 0.02 * d),
            "polling": _summary("polling", d, 6.0 + d / 10, 6.0 + d / 10),
            "ratios": {
                "detection_median": 0.2,
                "requests_attributable": 6.0 / (6.0 + d / 10),
                "requests_amortized": (6.0 + 0.02 * d) / (6.0 + d / 10),
            },
        }
        for d in (5.0, 120.0)
    ]
    found = {(t["target"], t["scenario"]): t["met"] for t in targets(scenarios)}
    assert found[("requests/task <= 6 (attributable)", "50x120s")] is True
    assert found[("requests/task <= 6 (amortized, shared listings included)", "50x120s")] is False
    assert found[("awaiting <= 1 request/s (process)", "50x5s")] is False
    assert found[("detection median <= 1/3 baseline", "50x5s")] is True
    assert found[("requests/task at 120 s <= 1/3 baseline (attributable)", "50x120s")] is True
    assert ("requests/task at 120 s <= 1/3 baseline (attributable)", "50x5s") not in found
    assert found[("attributable requests/task flat in duration", "50 tasks")] is True
