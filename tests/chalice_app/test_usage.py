"""Resource-seconds from Batch's job documents, as AWS records them, and in the marker."""

from __future__ import annotations

import json

import pytest

from covalent_eventbatch.chalice_app.markers import marker_from_task_event, new_marker
from covalent_eventbatch.chalice_app.usage import job_usage, requested_resources

# A DescribeJobs record (camelCase) of a job whose first attempt was reclaimed and whose second
# succeeded; the task asked for 4 vCPUs, 8 GiB and one GPU through its container overrides.
RETRIED_JOB = {
    "jobId": "job-7",
    "status": "SUCCEEDED",
    "createdAt": 1_700_000_000_000,
    "startedAt": 1_700_000_100_000,
    "stoppedAt": 1_700_000_190_000,
    "platformCapabilities": ["EC2"],
    "container": {
        "resourceRequirements": [
            {"type": "VCPU", "value": "4"},
            {"type": "MEMORY", "value": "8192"},
            {"type": "GPU", "value": "1"},
        ],
        "exitCode": 0,
    },
    "attempts": [
        {
            "container": {"logStreamName": "covalent/default/a1"},
            "startedAt": 1_700_000_010_000,
            "stoppedAt": 1_700_000_040_000,
            "statusReason": "Host EC2 (instance i-1) terminated.",
        },
        {
            "container": {"exitCode": 0, "logStreamName": "covalent/default/a2"},
            "startedAt": 1_700_000_100_000,
            "stoppedAt": 1_700_000_190_000,
        },
    ],
}


def test_each_attempt_counts_requested_resources_times_its_running_time() -> None:
    usage = job_usage(RETRIED_JOB)
    assert usage is not None
    assert (usage["vcpu"], usage["memory_gib"], usage["gpus"]) == (4, 8, 1)
    assert [a["seconds"] for a in usage["attempts"]] == [30, 90]
    assert [a["vcpu_seconds"] for a in usage["attempts"]] == [120, 360]
    assert [a["gib_seconds"] for a in usage["attempts"]] == [240, 720]
    assert [a["gpu_seconds"] for a in usage["attempts"]] == [30, 90]
    assert (usage["vcpu_seconds"], usage["gib_seconds"], usage["gpu_seconds"]) == (480, 960, 120)
    assert usage["platform"] == "EC2"
    assert usage["created_at"] == RETRIED_JOB["createdAt"]


def test_step_functions_pascal_case_job_gives_the_same_usage() -> None:
    def pascal(value: object) -> object:
        if isinstance(value, dict):
            return {k[:1].upper() + k[1:]: pascal(v) for k, v in value.items()}
        if isinstance(value, list):
            return [pascal(v) for v in value]
        return value

    assert job_usage(pascal(RETRIED_JOB)) == job_usage(RETRIED_JOB)


def test_fractional_fargate_vcpus_and_the_older_vcpus_memory_fields() -> None:
    fargate = {
        "container": {
            "resourceRequirements": [
                {"type": "VCPU", "value": "0.25"},
                {"type": "MEMORY", "value": "512"},
            ]
        }
    }
    assert requested_resources(fargate) == (0.25, 0.5, 0.0)
    assert requested_resources({"container": {"vcpus": 2, "memory": 3840}}) == (2, 3.75, 0.0)
    assert job_usage({"container": {}}) is None


def test_an_attempt_that_never_started_counts_zero() -> None:
    job = {
        "status": "FAILED",
        "container": {"vcpus": 1, "memory": 1024},
        "attempts": [{"container": {"reason": "CannotPullContainerError: ..."}, "stoppedAt": 5}],
    }
    usage = job_usage(job)
    assert usage is not None and usage["attempts"][0]["seconds"] == 0
    assert usage["vcpu_seconds"] == 0


def test_a_running_attempt_counts_up_to_now_only_when_asked() -> None:
    # AWS lists an attempt when it ends: the running one is the job's own startedAt.
    running = {
        "status": "RUNNING",
        "startedAt": 1_000_000,
        "container": {
            "resourceRequirements": [
                {"type": "VCPU", "value": "2"},
                {"type": "MEMORY", "value": "2048"},
            ]
        },
        "attempts": [],
    }
    so_far = job_usage(running, now_ms=1_010_000)
    assert so_far is not None and so_far["seconds"] == 10 and so_far["vcpu_seconds"] == 20
    assert so_far["attempts"][0]["stopped_at"] is None
    final = job_usage(running)
    assert final is not None and final["attempts"] == [] and final["seconds"] == 0


def test_the_marker_carries_the_usage_of_a_succeeded_and_a_failed_job() -> None:
    location = {"Bucket": "b", "Key": "covalent/markers/d/1.json"}
    pascal_job = json.loads(json.dumps(RETRIED_JOB))
    _, doc = marker_from_task_event(
        {"Marker": location, "Status": "SUCCEEDED", "ExecutionArn": "arn", "Job": pascal_job}
    )
    assert doc["usage"]["vcpu_seconds"] == 480
    # A failed submitJob.sync hands the job document on as the error's cause.
    failed = dict(RETRIED_JOB, status="FAILED")
    _, doc = marker_from_task_event(
        {
            "Marker": location,
            "Status": "FAILED",
            "ExecutionArn": "arn",
            "Error": "States.TaskFailed",
            "Cause": json.dumps(failed),
        }
    )
    assert doc["usage"]["gib_seconds"] == 960
    # Without a job document (stopped before submission), every marker still has the field.
    assert new_marker("ABORTED", "execution-status", "arn")["usage"] is None


@pytest.mark.parametrize("value", ["-1", "lots", None])
def test_unusable_values_give_no_usage(value: object) -> None:
    job = {
        "container": {
            "resourceRequirements": [
                {"type": "VCPU", "value": value},
                {"type": "MEMORY", "value": "1024"},
            ]
        }
    }
    assert job_usage(job) is None


@pytest.mark.parametrize(
    "job",
    [
        {"container": {"vcpus": 1, "memory": 1024}, "attempts": 7},
        {"container": {"vcpus": 1, "memory": 1024}, "platformCapabilities": 5},
        {"container": {"resourceRequirements": "VCPU"}},
        {"container": {"vcpus": 1, "memory": 1024}, "attempts": [{"startedAt": "soon"}]},
        ["not", "a", "job"],
    ],
)
def test_an_odd_job_document_never_raises(job: object) -> None:
    usage = job_usage(job)
    assert usage is None or usage["seconds"] == 0
