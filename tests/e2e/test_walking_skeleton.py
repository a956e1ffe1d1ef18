"""One Covalent workflow through the whole event-driven path, on the local stack.

A real `covalent start` dispatcher runs a lattice whose electrons use executor="awsbatch"; the
checks then read what happened in AWS: executions, Batch jobs, markers, images.
"""

from __future__ import annotations

import json
import time

import covalent as ct
import pytest

from .helpers import explain, node_results

pytestmark = pytest.mark.e2e


@ct.electron(executor="awsbatch")
def square(x: int) -> int:
    print(f"squaring {x}")
    return x * x


@ct.electron(executor="awsbatch")
def total(values: list) -> int:
    return sum(values)


@ct.lattice
def sum_of_squares(n: int) -> int:
    return total([square(i) for i in range(n)])


def _executions(aws, state_machine_arn: str, dispatch_id: str, timeout: float = 60) -> list[dict]:
    """The dispatch's executions once ended: each electron announces itself from its container,
    so it completes before Step Functions has seen its job end."""
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + timeout
    while True:
        found = sfn.list_executions(stateMachineArn=state_machine_arn)["executions"]
        mine = [e for e in found if e["name"].startswith(dispatch_id)]
        if all(e["status"] != "RUNNING" for e in mine) or time.monotonic() > deadline:
            return mine
        time.sleep(0.5)


def test_lattice_runs_through_step_functions_batch_and_markers(covalent_server, local_stack, aws):
    dispatch_id = ct.dispatch(sum_of_squares)(3)
    result = ct.get_result(dispatch_id, wait=True)

    assert str(result.status) == "COMPLETED", explain(result)
    assert result.result == 0 + 1 + 4

    # Every electron on awsbatch (three squares, Covalent's list collector, the total) went
    # through exactly one execution that SUCCEEDED: its own, named after its node, or that of
    # the pack it arrived with (the three squares, usually), whose manifest lists it.
    on_batch = {
        str(node["node_id"])
        for node in node_results(result)
        if not node["node_name"].startswith((":parameter:", ":postprocess:"))
    }
    assert len(on_batch) == 5
    executions = _executions(aws, local_stack.state_machine_arn, dispatch_id)
    assert {e["status"] for e in executions} == {"SUCCEEDED"}
    s3 = aws.client("s3")
    bucket = "covalent-eventbatch-local"
    covered_by: dict[str, str] = {}
    for execution in executions:
        name = execution["name"][len(dispatch_id) + 1 :]
        if name.startswith("nodes-"):
            manifest = json.loads(
                s3.get_object(
                    Bucket=bucket, Key=f"covalent/tasks/{dispatch_id}/packs/{name[6:]}.json"
                )["Body"].read()
            )
            nodes = [str(t["node_id"]) for t in manifest["tasks"]]
        else:
            nodes = [name]
        for node_id in nodes:
            assert node_id not in covered_by, f"node {node_id} ran twice"
            covered_by[node_id] = execution["executionArn"]
    assert set(covered_by) == on_batch

    job_definitions = set()
    for node_id, execution_arn in covered_by.items():
        marker = json.loads(
            s3.get_object(Bucket=bucket, Key=f"covalent/markers/{dispatch_id}/{node_id}.json")[
                "Body"
            ].read()
        )
        # Written by the Chalice handler from the "Task Finished" event, not by a fallback.
        assert marker["source"] == "task-finished"
        assert marker["status"] == "SUCCEEDED"
        assert marker["execution_arn"] == execution_arn
        job = aws.client("batch").describe_jobs(jobs=[marker["job_id"]])["jobs"][0]
        assert job["status"] == "SUCCEEDED"
        job_definitions.add(job["jobDefinition"])

    # One job definition, so one runtime image, served every electron; and that image was
    # pushed before the first execution started: no later electron built and pushed it again.
    assert len(job_definitions) == 1
    definition = aws.client("batch").describe_job_definitions(
        jobDefinitions=[job_definitions.pop()]
    )["jobDefinitions"][0]
    tag = definition["containerProperties"]["image"].rsplit(":", 1)[1]
    image = aws.client("ecr").describe_images(
        repositoryName="covalent-batch-job-images", imageIds=[{"imageTag": tag}]
    )["imageDetails"][0]
    assert image["imagePushedAt"] <= min(e["startDate"] for e in executions)

    # The task's stdout reached Covalent.
    assert any("squaring 2" in (node["stdout"] or "") for node in node_results(result))
