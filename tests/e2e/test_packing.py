"""Packs: a fan-out's electrons run as one Batch array job, each keeping its own outcome.

Through a real `covalent start` dispatcher on the local stack. Each electron still has its own
result, marker and Covalent status; what changes is the number of executions and SubmitJob
calls, which these tests read back from Step Functions and Batch, and of task uploads: a pack's
small tasks go up as one object, which each child reads its range of.
"""

from __future__ import annotations

import json
import time

import covalent as ct
import pytest

from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor

from .helpers import electron_nodes, explain, marker, run

pytestmark = pytest.mark.e2e
BUCKET = "covalent-eventbatch-local"


def _executions(aws, local_stack, dispatch_id: str) -> list[dict]:
    sfn = aws.client("stepfunctions")
    found = []
    for page in sfn.get_paginator("list_executions").paginate(
        stateMachineArn=local_stack.state_machine_arn
    ):
        found += [e for e in page["executions"] if e["name"].startswith(dispatch_id)]
    return found


def _manifests(aws, dispatch_id: str) -> list[dict]:
    s3 = aws.client("s3")
    return [
        json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
        for key in _keys(aws, f"covalent/tasks/{dispatch_id}/packs/")
        if key.endswith(".json")  # the bundles of tasks are there too
    ]


def _keys(aws, prefix: str) -> list[str]:
    s3 = aws.client("s3")
    return [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
        for o in page.get("Contents", [])
    ]


def _output(node: dict):
    return node["output"].get_deserialized() if node["output"] is not None else None


def test_forty_electrons_one_raising_run_as_one_array_job(covalent_server, local_stack, aws):
    @ct.electron(executor="awsbatch")
    def square_unless_17(i):
        print(f"electron {i} ran")
        if i == 17:
            raise ValueError(f"electron {i} refuses")
        return i * i

    @ct.lattice
    def fan_out(n):
        return [square_unless_17(i) for i in range(n)]

    result = run(fan_out, 40)
    nodes = electron_nodes(result, "square_unless_17")
    assert len(nodes) == 40
    failed = [n for n in nodes if str(n["status"]) == "FAILED"]
    completed = [n for n in nodes if str(n["status"]) == "COMPLETED"]
    assert len(failed) == 1, explain(result)
    assert len(completed) == 39, explain(result)
    stderr = failed[0]["stderr"]
    assert "ValueError: electron 17 refuses" in stderr
    assert "Remote traceback" in stderr and "in square_unless_17" in stderr
    assert "electron 17 ran" in failed[0]["stdout"]
    assert sorted(_output(n) for n in completed) == sorted(i * i for i in range(40) if i != 17)
    assert all(f"electron {int(_output(n) ** 0.5)} ran" in n["stdout"] for n in completed)

    executions = _executions(aws, local_stack, result.dispatch_id)
    assert 1 <= len(executions) <= 2, [e["name"] for e in executions]
    manifests = _manifests(aws, result.dispatch_id)
    packed = sorted(t["node_id"] for m in manifests for t in m["tasks"])
    assert packed == sorted(n["node_id"] for n in nodes)
    for m in manifests:  # how the dispatcher's run() calls arrived (the measure for pack_window)
        called = sorted(t["run_called_ms"] for t in m["tasks"])
        joined = sorted(t["joined_ms"] for t in m["tasks"])
        print(f"pack of {len(m['tasks'])}: run() called at {called} ms; joined at {joined} ms")

    # Each electron's marker names its own child job, PARENT:INDEX, written by that child.
    batch = aws.client("batch")
    bad = marker(aws, result.dispatch_id, failed[0]["node_id"])
    assert bad["status"] == "FAILED" and bad["source"] == "task-finished"
    parent_id, _, index = bad["job_id"].rpartition(":")
    assert index.isdigit()
    # The markers come from the children themselves, before their containers have exited: the
    # array job ends a little later, FAILED because one child failed.
    deadline = time.monotonic() + 120
    while (parent := batch.describe_jobs(jobs=[parent_id])["jobs"][0])["status"] != "FAILED":
        assert time.monotonic() < deadline, parent["status"]
        time.sleep(1)
    assert parent["arrayProperties"]["size"] == 40 or len(executions) == 2
    assert parent["jobName"].startswith(f"covalent-{result.dispatch_id}-nodes-")
    good = marker(aws, result.dispatch_id, completed[0]["node_id"])
    assert good["status"] == "SUCCEEDED" and good["job_id"].rpartition(":")[2].isdigit()


def test_a_killed_child_is_recorded_from_batch_when_the_array_ends(covalent_server, aws):
    @ct.electron(executor="awsbatch")
    def maybe_killed(i):
        if i == 2:
            import os

            # As the kernel's OOM killer ends a container: exit status 137, the runner's
            # reporting never runs. (A SIGKILL from inside cannot do it: the runner is PID 1.)
            os._exit(137)
        return i

    @ct.lattice
    def fan_out(n):
        return [maybe_killed(i) for i in range(n)]

    result = run(fan_out, 4)
    nodes = electron_nodes(result, "maybe_killed")
    failed = [n for n in nodes if str(n["status"]) == "FAILED"]
    assert len(failed) == 1, explain(result)
    assert sorted(_output(n) for n in nodes if n not in failed) == [0, 1, 3]
    recorded = marker(aws, result.dispatch_id, failed[0]["node_id"])
    assert recorded["source"] == "array-job-end", recorded
    assert recorded["exit_code"] == 137
    assert "exit code: 137" in failed[0]["stderr"]
    assert "raise 'memory'" in failed[0]["stderr"]


def test_pack_window_zero_keeps_one_execution_per_electron(covalent_server, local_stack, aws):
    alone = AWSBatchExecutor(pack_window=0)

    @ct.electron(executor=alone)
    def cube(i):
        return i**3

    @ct.lattice
    def fan_out(n):
        return [cube(i) for i in range(n)]

    result = run(fan_out, 6)
    assert str(result.status) == "COMPLETED", explain(result)
    assert result.result == [i**3 for i in range(6)]
    nodes = electron_nodes(result, "cube")
    executions = _executions(aws, local_stack, result.dispatch_id)
    assert sorted(e["name"] for e in executions) == sorted(
        f"{result.dispatch_id}-{n['node_id']}" for n in nodes
    )
    assert not _manifests(aws, result.dispatch_id)
    for n in nodes:
        job_id = marker(aws, result.dispatch_id, n["node_id"])["job_id"]
        assert ":" not in job_id  # a job of its own, not an array child


def test_cancel_terminates_each_packed_electrons_child(covalent_server, local_stack, aws):
    @ct.electron(executor="awsbatch")
    def long_task(i):
        import time

        time.sleep(600)

    @ct.lattice
    def fan_out(n):
        return [long_task(i) for i in range(n)]

    dispatch_id = ct.dispatch(fan_out)(3)
    batch = aws.client("batch")
    deadline = time.monotonic() + 180
    children: list[dict] = []
    while time.monotonic() < deadline and len(children) < 3:
        time.sleep(1)
        parents = batch.list_jobs(
            jobQueue="covalent-batch-queue",
            filters=[{"name": "JOB_NAME", "values": [f"covalent-{dispatch_id}-nodes-*"]}],
        )["jobSummaryList"]
        children = [
            c
            for p in parents
            for c in batch.list_jobs(arrayJobId=p["jobId"], jobStatus="RUNNING")["jobSummaryList"]
        ]
    assert len(children) == 3, "the array job's children never all ran"

    cancelled_at = time.monotonic()
    ct.cancel(dispatch_id)
    result = ct.get_result(dispatch_id, wait=True)
    nodes = electron_nodes(result, "long_task")
    assert [str(n["status"]) for n in nodes] == ["CANCELLED"] * 3, explain(result)
    assert time.monotonic() - cancelled_at < 90
    jobs = batch.describe_jobs(jobs=[c["jobId"] for c in children])["jobs"]
    assert {j["status"] for j in jobs} == {"FAILED"}
    assert all("Cancelled by Covalent" in j.get("statusReason", "") for j in jobs)
    [execution] = _executions(aws, local_stack, dispatch_id)
    deadline = time.monotonic() + 60
    sfn = aws.client("stepfunctions")
    while sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the pack's execution never ended"
        time.sleep(1)


def test_a_sibling_whose_announcement_failed_is_completed_with_its_value(covalent_server, aws):
    """Electron 0 raises; electron 3 returns 30 after making its own child's PutEvents fail.

    The pack's array job fails (because of electron 0); electron 3's child succeeded but could
    not say so: it is recorded from Batch's list of succeeded children, and its stored result
    makes it COMPLETED.
    """

    @ct.electron(executor=AWSBatchExecutor(pack_window=3.0))
    def tenfold_unless_0(i):
        if i == 0:
            raise ValueError("electron 0 refuses")
        if i == 3:
            import gc
            import types

            import botocore.client

            def refuse(**_):
                # As EventBridge answers an entry it could not take (AWS's PutEvents page).
                failed = {"ErrorCode": "InternalFailure", "ErrorMessage": "made to fail"}
                return types.SimpleNamespace(status_code=200, headers={}), {
                    "FailedEntryCount": 1,
                    "Entries": [failed],
                }

            for client in gc.get_objects():
                if (
                    isinstance(client, botocore.client.BaseClient)
                    and client.meta.service_model.service_name == "events"
                ):
                    client.meta.events.register("before-call.events.PutEvents", refuse)
        return i * 10

    @ct.lattice
    def fan_out(n):
        return [tenfold_unless_0(i) for i in range(n)]

    result = run(fan_out, 6)
    nodes = sorted(electron_nodes(result, "tenfold_unless_0"), key=lambda n: n["node_id"])
    statuses = [str(n["status"]) for n in nodes]
    assert statuses == ["FAILED"] + ["COMPLETED"] * 5, explain(result)
    assert [_output(n) for n in nodes[1:]] == [10, 20, 30, 40, 50]
    assert "ValueError: electron 0 refuses" in nodes[0]["stderr"]
    job_ids = [marker(aws, result.dispatch_id, n["node_id"])["job_id"] for n in nodes]
    assert len({j.rpartition(":")[0] for j in job_ids}) == 1, job_ids  # one array job
    third = marker(aws, result.dispatch_id, nodes[3]["node_id"])
    assert (third["status"], third["source"]) == ("SUCCEEDED", "array-job-end"), third


def test_an_older_state_machine_runs_a_fan_out_unpacked_with_one_warning(
    covalent_server, local_stack, aws
):
    """A state machine deployed before packs has no array job branch: no pack is sent to it."""
    import os
    from pathlib import Path

    from covalent_eventbatch.executor import contract
    from tests.statemachine.before_packs import definition_before_packs

    sfn = aws.client("stepfunctions")
    machine = local_stack.state_machine_arn
    current = sfn.describe_state_machine(stateMachineArn=machine)["definition"]
    dispatcher_log = Path(os.environ["COVALENT_LOGDIR"]) / "covalent_ui.log"

    @ct.electron(executor=AWSBatchExecutor(pack_window=3.0))
    def doubled(i):
        return 2 * i

    @ct.lattice
    def fan_out(n):
        return [doubled(i) for i in range(n)]

    sfn.update_state_machine(
        stateMachineArn=machine, definition=json.dumps(definition_before_packs())
    )
    try:
        time.sleep(contract.KEEP_S + 1)  # what the dispatcher knew of the state machine ages
        result = run(fan_out, 4)
    finally:
        sfn.update_state_machine(stateMachineArn=machine, definition=current)
        time.sleep(contract.KEEP_S + 1)  # the next tests pack again
    assert str(result.status) == "COMPLETED", explain(result)
    assert result.result == [0, 2, 4, 6]
    nodes = electron_nodes(result, "doubled")
    executions = _executions(aws, local_stack, result.dispatch_id)
    assert sorted(e["name"] for e in executions) == sorted(
        f"{result.dispatch_id}-{n['node_id']}" for n in nodes
    )
    assert not _manifests(aws, result.dispatch_id)
    warnings = [
        line
        for line in dispatcher_log.read_text().splitlines()
        if "deployed before packs" in line and machine in line
    ]
    assert len(warnings) == 1, warnings
    assert "WARNING" in warnings[0] and "eventbatch deploy" in warnings[0]


def test_a_packs_tasks_go_up_as_one_object_each_child_reading_its_range(
    covalent_server, local_stack, aws, capsys
):
    from covalent_eventbatch.cli import main

    @ct.electron(executor="awsbatch")
    def triple(i):
        return 3 * i

    @ct.lattice
    def fan_out(n):
        return [triple(i) for i in range(n)]

    result = run(fan_out, 12)
    assert str(result.status) == "COMPLETED", explain(result)
    assert result.result == [3 * i for i in range(12)]
    nodes = {n["node_id"] for n in electron_nodes(result, "triple")}
    dispatch = result.dispatch_id
    manifests = _manifests(aws, dispatch)
    assert manifests and max(len(m["tasks"]) for m in manifests) >= 2
    bundles = sorted(
        k for k in _keys(aws, f"covalent/tasks/{dispatch}/packs/") if k.endswith(".tasks")
    )
    # One object (one PutObject) per pack for its members' tasks, each member its own range.
    assert sorted(m["bundle"] for m in manifests) == [f"s3://{BUCKET}/{k}" for k in bundles]
    s3 = aws.client("s3")
    for m in manifests:
        key = m["bundle"][len(f"s3://{BUCKET}/") :]
        ranges = sorted(tuple(t["task_range"]) for t in m["tasks"])
        assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        assert ranges[-1][1] == s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    packed = {t["node_id"] for m in manifests for t in m["tasks"]}
    alone = nodes - packed  # a straggler that went alone uploads its own task.pkl, as before
    assert packed <= nodes and len(alone) <= 1, (packed, alone)
    keys = set(_keys(aws, f"covalent/tasks/{dispatch}/"))
    for node in nodes:
        folder = f"covalent/tasks/{dispatch}/{node}/"
        assert (folder + "task.pkl" in keys) == (node in alone), node
        assert folder + "result.pkl" in keys and folder + "io.json" in keys

    # The status view finds every electron, and cleanup takes the bundles too.
    assert main(["status", dispatch, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert nodes <= {e["node_id"] for e in shown["electrons"]}
    assert main(["logs", dispatch, str(min(packed))]) == 0  # one packed electron on its own
    capsys.readouterr()
    assert main(["cleanup", dispatch]) == 0
    capsys.readouterr()
    assert _keys(aws, f"covalent/tasks/{dispatch}/") == []
