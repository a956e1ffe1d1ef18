"""Batch retries on the local stack (localaws/moto_retries.py), against moto's own behaviour.

The probe runs in a fresh interpreter each time, since the patch changes moto's classes. The
first test shows the pinned moto still runs every job once: when it fails, upstream retries jobs
itself and the patch can go. The end-to-end tests (tests/e2e/test_retries.py) run real containers.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from covalent_eventbatch.localaws.moto_retries import (
    RECLAIM_REASON,
    decide,
    glob_matches,
    reclaim_reason,
)

EXITED = "Essential container in task exited"


@pytest.fixture(scope="module")
def probes() -> dict[str, dict[str, Any]]:
    found = {}
    for mode in ("unpatched", "patched"):
        proc = subprocess.run(
            [sys.executable, "-m", "tests.localaws.retries_probe", mode],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert proc.returncode == 0, proc.stderr
        found[mode] = json.loads(proc.stdout.strip().splitlines()[-1])
    return found


def _attempts(job: dict[str, Any]) -> list[tuple[str | None, int | None]]:
    return [(a["statusReason"], a["exitCode"]) for a in job["attempts"]]


def test_unpatched_moto_still_runs_each_job_once(probes: dict) -> None:
    unpatched = probes["unpatched"]
    for name in ("third_time", "from_definition", "reclaimed", "out_of_attempts"):
        job = unpatched[name]
        assert job["status"] == "FAILED", name
        assert job["runs"] == [None], name  # one run, and no AWS_BATCH_JOB_ATTEMPT
        assert len(job["attempts"]) == 1, name
    assert unpatched["array_retried"]["children"][1]["status"] == "FAILED"


def test_a_job_is_retried_until_an_attempt_succeeds(probes: dict) -> None:
    job = probes["patched"]["third_time"]
    assert job["status"] == "SUCCEEDED"
    assert job["runs"] == ["1", "2", "3"]
    assert _attempts(job) == [(EXITED, 1), (EXITED, 1), (EXITED, 0)]
    streams = [a["logStreamName"] for a in job["attempts"]]
    assert len(set(streams)) == 3 and all(streams)
    assert all(a["stopped"] for a in job["attempts"])


def test_the_first_matching_rule_decides(probes: dict) -> None:
    job = probes["patched"]["exit_rule"]  # onExitCode "*" EXIT comes before onReason "*" RETRY
    assert (job["status"], job["runs"]) == ("FAILED", ["1"])
    assert job["statusReason"] == EXITED


def test_the_job_definitions_strategy_applies_when_submit_job_gives_none(probes: dict) -> None:
    job = probes["patched"]["from_definition"]
    assert (job["status"], job["runs"]) == ("SUCCEEDED", ["1", "2"])


def test_a_reclaimed_host_is_retried_by_the_host_ec2_rule(probes: dict) -> None:
    job = probes["patched"]["reclaimed"]
    assert (job["status"], job["runs"]) == ("SUCCEEDED", ["1", "2"])
    assert _attempts(job) == [("Host EC2 (instance i-0abc123) terminated.", None), (EXITED, 0)]


def test_a_terminated_job_is_not_retried(probes: dict) -> None:
    job = probes["patched"]["terminated"]
    assert (job["status"], job["runs"], job["statusReason"]) == (
        "FAILED",
        ["1"],
        "stopped by its user",
    )


def test_attempts_run_out(probes: dict) -> None:
    job = probes["patched"]["out_of_attempts"]
    assert job["status"] == "FAILED"
    assert _attempts(job) == [(EXITED, 5), (EXITED, 6)]


def test_an_array_child_retries_alone_and_the_parent_follows_the_final_statuses(
    probes: dict,
) -> None:
    retried = probes["patched"]["array_retried"]
    assert retried["parent"] == "SUCCEEDED"
    assert [c["runs"] for c in retried["children"]] == [["1"], ["1", "2"], ["1"]]
    failing = probes["patched"]["array_failing"]
    assert failing["parent"] == "FAILED"
    assert [c["status"] for c in failing["children"]] == ["SUCCEEDED", "FAILED", "SUCCEEDED"]
    assert [c["runs"] for c in failing["children"]] == [["1"], ["1", "2"], ["1"]]


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        ("Host EC2*", "Host EC2 (instance i-1) terminated.", True),
        ("Host EC2*", "host ec2", False),
        ("1", 1, True),
        ("1", 137, False),
        ("13*", 137, True),
        ("*", None, True),  # a field the attempt lacks matches only "*"
        ("1*", None, False),
        ("Essential container in task exited", "Essential container in task exited", True),
    ],
)
def test_glob_matches_as_aws_documents(pattern: str, value: Any, expected: bool) -> None:
    assert glob_matches(pattern, value) is expected


def test_decide_needs_every_given_field_to_match_and_retries_when_none_does() -> None:
    attempt = {"statusReason": EXITED, "container": {"exitCode": 1}}
    both = {"onExitCode": "1", "onStatusReason": "Host EC2*", "action": "EXIT"}
    assert decide({"attempts": 2, "evaluateOnExit": [both]}, attempt, 1) is True
    assert (
        decide(
            {"attempts": 2, "evaluateOnExit": [{"onExitCode": "1", "action": "exit"}]}, attempt, 1
        )
        is False
    )
    assert decide({"attempts": 2}, attempt, 2) is False  # no attempts left
    assert decide(None, attempt, 1) is False  # one attempt by default


def test_the_reclaim_reason_has_aws_form() -> None:
    assert RECLAIM_REASON.match(reclaim_reason("i-0123abcd"))
    assert not RECLAIM_REASON.match("Host EC2 terminated")
