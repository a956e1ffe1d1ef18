"""moto issue 10076 and the local stack's patch for it, each in a fresh interpreter.

The first test shows the bug is still in the pinned moto: when it fails, upstream fixed it and
localaws/moto_compat.py can go. The second shows the patch makes the same state machine
register a Batch job definition from PascalCase parameters, as Step Functions does on AWS.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def _run(mode: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.localaws.issue_10076_probe", mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_unpatched_moto_still_has_issue_10076() -> None:
    outcome = _run("unpatched")
    if outcome["status"] == "SUCCEEDED":
        pytest.fail("moto now translates PascalCase parameters itself: remove moto_compat")
    assert outcome["status"] == "FAILED"
    assert "JobDefinitionName" in outcome["cause"]
    assert outcome["registered"] == 0


def test_patch_translates_parameters_and_response() -> None:
    outcome = _run("patched")
    assert outcome["status"] == "SUCCEEDED", outcome
    assert outcome["registered"] == 1
    # The response comes back PascalCase, as Step Functions returns it on AWS.
    assert json.loads(outcome["output"])["JobDefinitionName"] == "probe"


def _arrays(mode: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.localaws.array_jobs_probe", mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


def test_unpatched_moto_still_mishandles_array_jobs() -> None:
    """Each of these failing means upstream fixed it: drop that part of apply_array_jobs."""
    outcome = _arrays("unpatched")
    assert outcome["indexes"] == [None, None, None]  # no AWS_BATCH_JOB_ARRAY_INDEX
    assert len(outcome["job_ids_seen"][2]) == 3  # the third child sees its siblings' job ids
    assert outcome["parent_status"] != "FAILED"  # so batch:submitJob.sync never ends
    assert outcome["children_stopping"] == [False, False, False]


def test_array_patch_gives_children_their_index_and_fails_and_stops_the_parent() -> None:
    outcome = _arrays("patched")
    assert outcome["indexes"] == [["0"], ["1"], ["2"]]
    assert [len(ids) for ids in outcome["job_ids_seen"]] == [1, 1, 1]
    assert [ids[0].rsplit(":", 1)[1] for ids in outcome["job_ids_seen"]] == ["0", "1", "2"]
    assert outcome["parent_status"] == "FAILED"
    assert outcome["children_stopping"] == [True, True, True]
    assert outcome["children_reasons"] == ["probe", "probe", "probe"]
