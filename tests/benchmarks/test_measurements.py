"""The benchmark's pure parts: statistics, request counting and charging, the targets."""

from __future__ import annotations

import argparse
import math
import threading
from dataclasses import asdict
from types import SimpleNamespace

import pytest

from benchmarks import stats
from benchmarks.compare import parse_scenario
from benchmarks.counting import (
    CHARGING,
    EMPTY,
    ERROR,
    MESSAGES,
    OK,
    RETRIED,
    UNKNOWN,
    Charging,
    Request,
    RequestCounter,
    aggregate,
    by_operation,
    outcome_of,
    succeeded,
)
from benchmarks.report import (
    EXECUTOR_LABELS,
    FAIL,
    MISSING,
    PASS,
    checks_markdown,
    compare,
    format_checks,
    issue_targets,
    summarize_run,
    table_rows,
    targets,
)


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


def _attached() -> tuple[RequestCounter, dict]:
    counter = RequestCounter()
    registered: dict = {}
    counter.attach(SimpleNamespace(events=SimpleNamespace(register=registered.__setitem__)))
    return counter, registered


def test_outcome_of_a_long_poll_is_what_it_returned() -> None:
    assert outcome_of("ReceiveMessage", {"Messages": [{"Body": "{}"}]}, 200) == MESSAGES
    assert outcome_of("ReceiveMessage", {"ResponseMetadata": {}}, 200) == EMPTY
    assert outcome_of("ReceiveMessage", {"Messages": []}, 200) == EMPTY
    assert outcome_of("ReceiveMessage", {"Error": {"Code": "QueueDoesNotExist"}}, 400) == ERROR
    assert outcome_of("StartExecution", {"executionArn": "arn"}, 200) == OK
    assert outcome_of("StartExecution", {"Error": {"Code": "ExecutionAlreadyExists"}}, 400) == (
        ERROR
    )
    assert outcome_of("PutObject", None, None) == ERROR


def test_counter_marks_each_threads_request_with_its_answer() -> None:
    counter, on = _attached()
    send, answer, failed = on["before-send"], on["after-call"], on["after-call-error"]
    send(event_name="before-send.sqs.ReceiveMessage", request=object())
    answer(
        event_name="after-call.sqs.ReceiveMessage",
        parsed={"Messages": [{"Body": "{}"}]},
        http_response=SimpleNamespace(status_code=200),
    )
    send(event_name="before-send.sqs.ReceiveMessage", request=object())
    answer(event_name="after-call.sqs.ReceiveMessage", parsed={}, http_response=None)
    # A request sent again before any answer: botocore retried the first attempt.
    send(event_name="before-send.sfn.StartExecution", request=object())
    send(event_name="before-send.sfn.StartExecution", request=object())
    answer(event_name="after-call.sfn.StartExecution", parsed={"executionArn": "a"})
    send(event_name="before-send.s3.GetObject", request=object())
    failed(event_name="after-call-error.s3.GetObject", exception=OSError())
    # An answer with no request pending (a stubbed call) marks nothing.
    answer(event_name="after-call.s3.GetObject", parsed={})
    assert [(r.operation, r.outcome) for r in counter.requests] == [
        ("ReceiveMessage", MESSAGES),
        ("ReceiveMessage", EMPTY),
        ("StartExecution", RETRIED),
        ("StartExecution", OK),
        ("GetObject", ERROR),
    ]
    assert succeeded(counter.requests, "sfn", "StartExecution") == 1


def test_counter_pairs_answers_with_requests_per_thread() -> None:
    counter, on = _attached()
    send, answer = on["before-send"], on["after-call"]
    send(event_name="before-send.sqs.ReceiveMessage")  # the watcher's long poll, still waiting

    def other() -> None:
        send(event_name="before-send.s3.PutObject")
        answer(event_name="after-call.s3.PutObject", parsed={})

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    answer(event_name="after-call.sqs.ReceiveMessage", parsed={})
    assert [(r.operation, r.outcome) for r in counter.requests] == [
        ("ReceiveMessage", EMPTY),
        ("PutObject", OK),
    ]


def test_long_polls_are_awaiting_when_empty_and_per_task_when_they_deliver() -> None:
    charging = CHARGING["packed"]
    requests = [
        Request(0, "sqs", "ListQueues", OK),
        Request(0, "sqs", "ListQueueTags", OK),
        Request(0, "sqs", "CreateQueue", OK),
        Request(0, "sfn", "DescribeStateMachine", OK),
        Request(1, "s3", "PutObject", OK),
        Request(1, "sfn", "StartExecution", OK),
        Request(21, "sqs", "ReceiveMessage", EMPTY),
        Request(41, "sqs", "ReceiveMessage", EMPTY),
        Request(50, "sqs", "ReceiveMessage", RETRIED),
        Request(51, "sqs", "ReceiveMessage", ERROR),
        Request(55, "sqs", "ReceiveMessage", MESSAGES),
        Request(60, "s3", "ListObjectsV2", OK),
        Request(60, "sfn", "ListExecutions", OK),
        Request(60, "sfn", "DescribeExecution", OK),
        Request(70, "s3", "GetObject", OK),
        Request(80, "sqs", "TagQueue", OK),
        Request(90, "sqs", "DeleteQueue", OK),
    ]
    counts = aggregate(requests, charging, tasks=1, window_s=80.0)
    assert counts["setup"] == 6  # four of the queue's, DescribeStateMachine, and nothing else
    # Empty, failed and retried long polls, the listing and the sweep: waiting, for everyone.
    assert counts["shared"] == counts["awaiting_requests"] == 7
    assert counts["awaiting_per_s"] == pytest.approx(7 / 80)
    assert "sqs:ReceiveMessage/messages" not in counts["awaiting_per_s_by_operation"]
    assert counts["awaiting_per_s_by_operation"]["sqs:ReceiveMessage/empty"] == 2 / 80
    # PutObject, StartExecution, the delivering long poll and the result's GetObject.
    assert counts["per_task_attributable"] == 4.0
    assert counts["per_task_amortized"] == 11.0
    assert counts["per_task_with_setup"] == 17.0
    assert counts["by_label"]["sqs:ReceiveMessage/messages"] == 1


def test_polling_charges_describe_jobs_as_awaiting_only() -> None:
    charging = CHARGING["polling"]
    requests = [Request(t, "batch", "DescribeJobs", OK) for t in range(4)]
    counts = aggregate(requests, charging, tasks=2, window_s=4.0)
    assert counts["awaiting_per_s"] == 1.0
    assert counts["per_task_attributable"] == counts["per_task_with_setup"] == 2.0


def test_an_old_runs_requests_without_outcome_still_load() -> None:
    old = {"at": 1.0, "service": "sfn", "operation": "StartExecution"}
    assert Request(**old).outcome == UNKNOWN
    assert succeeded([Request(**old)], "sfn", "StartExecution") == 1


def test_scenarios_name_their_executors() -> None:
    every = ["ours", "packed", "polling"]
    assert parse_scenario("50x5", every) == (50, 5.0, ("ours", "packed", "polling"))
    assert parse_scenario("200x5s:packed,polling", every) == (200, 5.0, ("packed", "polling"))
    with pytest.raises(argparse.ArgumentTypeError):
        parse_scenario("200x5:packd", every)
    with pytest.raises(argparse.ArgumentTypeError):
        parse_scenario("lots", every)


def _row(
    executor: str,
    tasks: int,
    detection: float = 1.0,
    awaiting: int = 0,
    window: float = 60.0,
    total: int = 10,
    setup: int = 5,
    errors: int = 0,
    starts: int = 1,
    amortized: float = 0.0,
) -> dict:
    return {
        "executor": executor,
        "tasks": tasks,
        "errors": errors,
        "error_samples": ["TimeoutError: no result"] if errors else [],
        "detection_s": {"median": detection},
        "window_s": window,
        "start_executions": starts,
        "executions": starts,
        "requests": {
            "total": total,
            "setup": setup,
            "per_task_with_setup": total / tasks,
            "per_task_amortized": amortized,
            "awaiting_requests": awaiting,
            "awaiting_per_s": awaiting / window,
            "awaiting_per_s_by_operation": {"sqs:ReceiveMessage/empty": awaiting / window},
        },
    }


def _scenario(tasks: int, duration: float, **rows: dict) -> dict:
    return {"tasks": tasks, "duration": duration, **rows}


def test_issue_targets_pass_fail_and_missing() -> None:
    scenarios = [
        _scenario(
            1,
            5,
            ours=_row("ours", 1, detection=0.9),
            packed=_row("packed", 1, detection=1.1),
            polling=_row("polling", 1, detection=10.0),
        ),
        _scenario(
            1,
            120,
            ours=_row("ours", 1, awaiting=8, window=125.0, total=24, amortized=12.0),
            polling=_row("polling", 1, window=125.0, total=20, amortized=17.0),
        ),
        _scenario(
            200,
            5,
            packed=_row("packed", 200, awaiting=20, window=300.0, total=580, starts=2),
            polling=_row("polling", 200, window=310.0, total=4000, errors=1),
        ),
    ]
    checks = issue_targets(scenarios)
    got = {(c["target"], c["scenario"], c["executor"]): c for c in checks}

    def status(target: str, scenario: str, executor: str) -> str:
        return str(got[(target, scenario, EXECUTOR_LABELS[executor])]["status"])

    detection = "detection median <= 0.1 x polling's"
    assert status(detection, "1x5s", "ours") == PASS
    assert status(detection, "1x5s", "packed") == FAIL  # 0.11 of polling's
    assert "1.10 s vs polling 10.00 s" in got[(detection, "1x5s", "event-driven packed")]["figures"]
    assert status(detection, "50x5s", "ours") == MISSING
    awaiting = "awaiting <= 1 request per 15 s (0.067/s)"
    assert status(awaiting, "1x5s", "ours") == PASS
    assert status(awaiting, "1x120s", "ours") == PASS  # 8 in 125 s = 0.064/s
    assert status(awaiting, "200x5s", "packed") == PASS
    assert (awaiting, "200x5s", "polling") not in got  # the baseline is not held to it
    lone = "lone electron: requests all in (amortized) <= polling's"
    assert status(lone, "1x120s", "ours") == PASS  # 12 vs 17 (24 vs 20 with setup)
    assert "with setup 24.00 vs 20.00" in got[(lone, "1x120s", "event-driven")]["figures"]
    assert status(lone, "1x120s", "packed") == MISSING
    assert status("no errors", "200x5s", "packed") == PASS
    assert status("no errors", "200x5s", "polling") == FAIL
    assert status("requests all in <= 3 per electron", "200x5s", "packed") == PASS  # 2.9
    assert status("Step Functions executions <= 4", "200x5s", "packed") == PASS
    assert status("dispatch to last result <= polling's", "200x5s", "packed") == PASS
    text = format_checks(checks)
    assert "FAIL" in text and "MISSING" in text
    assert checks_markdown(checks).count("\n| ") == len(checks) + 1  # header and one per check


def test_issue_targets_fail_when_the_fanout_asks_too_much() -> None:
    scenarios = [
        _scenario(
            200,
            5,
            packed=_row("packed", 200, awaiting=30, window=400.0, total=601, starts=5),
            polling=_row("polling", 200, window=350.0, total=4000),
        )
    ]
    got = {(c["target"], c["executor"]): c["status"] for c in issue_targets(scenarios)}
    packed = EXECUTOR_LABELS["packed"]
    assert got[("requests all in <= 3 per electron", packed)] == FAIL
    assert got[("Step Functions executions <= 4", packed)] == FAIL
    assert got[("dispatch to last result <= polling's", packed)] == FAIL
    assert got[("awaiting <= 1 request per 15 s (0.067/s)", packed)] == FAIL  # 0.075/s


def _raw_run(executor: str, tasks: int, requests: list[Request]) -> dict:
    """A run_one document, as written to bench-results/runs/."""
    records = [
        {
            "node": n,
            "called": 0.0,
            "returned": 30.0,
            "called_wall": 1000.0,
            "returned_wall": 1030.0,
            "task_start": 1001.0,
            "task_end": 1028.0,
            "detection_s": 2.0,
            "overhead_s": 3.0,
            "batch_lag_s": 0.8,
            "after_batch_s": 1.2,
            "error": None,
            "job_handle": {"execution_arn": "arn:x"},
        }
        for n in range(tasks)
    ]
    return {
        "executor": executor,
        "tasks": tasks,
        "duration": 5.0,
        "window_s": 30.0,
        "cpu_s": 1.0,
        "rss_before_mib": 100.0,
        "peak_rss_mib": 120.0,
        "records": records,
        "requests": [asdict(r) for r in requests],
        "charging": {k: sorted(map(list, v)) for k, v in asdict(CHARGING[executor]).items()},
        "executions": 1 if executor != "polling" else None,
    }


def test_a_run_document_round_trips_into_the_table_and_the_targets() -> None:
    packed = summarize_run(
        _raw_run(
            "packed",
            2,
            [
                Request(0, "sqs", "CreateQueue", OK),
                Request(1, "sfn", "StartExecution", OK),
                Request(20, "sqs", "ReceiveMessage", EMPTY),
                Request(29, "sqs", "ReceiveMessage", MESSAGES),
            ],
        )
    )
    polling = summarize_run(
        _raw_run("polling", 2, [Request(t, "batch", "DescribeJobs", OK) for t in range(6)])
    )
    assert packed["start_executions"] == 1
    assert packed["requests"]["awaiting_requests"] == 1
    assert packed["requests"]["per_task_with_setup"] == 2.0
    scenario = {"tasks": 2, "duration": 5.0, "packed": packed, "polling": polling}
    scenario["packed_polling_ratios"] = compare(packed, polling)
    header, rows = table_rows([scenario])
    assert "req/task all in" in header and "dispatch to last result s" in header
    assert [row[2] for row in rows] == ["event-driven packed", "polling", "ratio packed/polling"]
    column = header.index("req/task all in")
    assert [row[column] for row in rows] == ["2.00", "3.00", "0.67"]
    assert rows[0][header.index("StartExecution")] == "1"
