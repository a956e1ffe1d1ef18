"""Failure messages from recorded Batch and Step Functions documents.

moto cannot produce some failures for real (it sets no memory limit on containers, and never
fails an image pull the way ECS does), so the reasons AWS records for them are taken from AWS
Batch's documentation and checked here: the message must carry the reason and the setting to fix.
"""

from __future__ import annotations

import pytest

from covalent_eventbatch.executor.outcome import describe_failure


def test_user_exception_shows_the_remote_traceback() -> None:
    io = {
        "exit_status": 1,
        "exception": {
            "type": "ValueError",
            "message": "bad",
            "traceback": "Traceback ...\nValueError: bad\n",
        },
    }
    message = describe_failure({"status": "FAILED", "job_id": "j-1", "attempts": 1}, io)
    assert message.startswith("ValueError: bad")
    assert "AWS Batch job j-1 after 1 attempt;" in message
    assert "Remote traceback:\nTraceback ...\nValueError: bad" in message


@pytest.mark.parametrize(
    ("reason", "exit_code", "hint"),
    [
        ("OutOfMemoryError: Container killed due to memory usage", 137, "raise 'memory'"),
        ("Job attempt duration exceeded timeout", None, "raise 'time_limit'"),
        ("Job time exceeded the configured attemptDurationSeconds", None, "raise 'time_limit'"),
        (
            "CannotPullContainerError: pull image manifest has been retried 5 time(s): not found",
            None,
            "could not be pulled",
        ),
        ("Host EC2 (instance i-0abc) terminated.", None, "reclaimed"),
        ("Essential container in task exited", 3, None),
    ],
)
def test_batch_reasons_are_passed_on_with_advice(
    reason: str, exit_code: int | None, hint: str | None
) -> None:
    marker = {
        "status": "FAILED",
        "job_id": "j-9",
        "attempts": 2,
        "reason": reason,
        "exit_code": exit_code,
    }
    message = describe_failure(marker, {})
    assert message.startswith("AWS Batch job j-9 failed after 2 attempts.")
    assert f"reason: {reason}" in message
    if exit_code is not None:
        assert f"exit code: {exit_code}" in message
    if hint:
        assert hint in message
    else:
        assert "Hint" not in message


def test_failure_before_the_job_names_the_step_functions_error() -> None:
    marker = {
        "status": "FAILED",
        "error": "Batch.ClientException",
        "reason": "Error executing request, Exception : JobQueue nope not found",
    }
    message = describe_failure(marker, {})
    assert message.startswith("The task never ran: Step Functions reported Batch.ClientException.")
    assert "batch_queue" in message


def test_stopped_execution() -> None:
    message = describe_failure({"status": "ABORTED", "reason": "Cancelled by Covalent"}, {})
    assert message.startswith("The task's Step Functions execution ended ABORTED.")


def test_timeout_without_a_recorded_reason_is_told_by_the_duration() -> None:
    marker = {
        "status": "FAILED",
        "job_id": "j",
        "attempts": 1,
        "started_at": 1_000,
        "stopped_at": 61_500,
    }
    message = describe_failure(marker, {}, time_limit=60)
    assert "ran 60 s, reaching its time limit" in message
    assert "raise 'time_limit'" in message
    assert "time limit" not in describe_failure({**marker, "stopped_at": 11_000}, {}, time_limit=60)


def test_a_container_that_left_no_trace_points_at_the_image() -> None:
    message = describe_failure({"status": "FAILED", "job_id": "j", "attempts": 1}, {"log_tail": ""})
    assert "most likely never started" in message
    assert "container_image_uri" in message
