"""Faults at the client: the dispatcher's AWS requests fail 10% of the time, and still every
result is right and nothing is left running.

The executor's electrons call through ``localaws/faults.py``, which fails one in ten of the calls
signed with the executor's key (throttled, a 502, or the response lost after the call took
effect); the containers and the state machine call with their roles' keys and are left alone.
"""

from __future__ import annotations

import time

import covalent as ct
import pytest

from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor
from covalent_eventbatch.localaws import stack
from covalent_eventbatch.localaws.faults import KINDS, FaultProxy

from .helpers import electron_nodes, explain, run

pytestmark = pytest.mark.e2e
QUEUE = "covalent-batch-queue"
_ACTIVE = ("SUBMITTED", "PENDING", "RUNNABLE", "STARTING", "RUNNING")


def test_a_workflow_with_a_tenth_of_its_requests_failing_ends_right(
    covalent_server, local_stack, aws
) -> None:
    key = stack.profile_key(stack.EXECUTOR_PROFILE)
    assert key, "the local stack has no executor user"
    proxy = FaultProxy(local_stack.moto_port, rate=0.1, access_keys={key})
    port = proxy.start()
    try:
        faulty = AWSBatchExecutor(endpoint_url=f"http://127.0.0.1:{port}", pack_window=1.0)

        @ct.electron(executor=faulty)
        def square(i):
            return i * i

        @ct.electron(executor=faulty)
        def total(values):
            return sum(values)

        @ct.lattice
        def workflow(n):
            return total([square(i) for i in range(n)])

        result = run(workflow, 6)
    finally:
        proxy.stop()
    print(f"requests through the proxy: {dict(proxy.counts)}")
    assert str(result.status) == "COMPLETED", explain(result)
    assert result.result == sum(i * i for i in range(6))
    assert sorted(n["output"].get_deserialized() for n in electron_nodes(result, "square")) == [
        i * i for i in range(6)
    ]
    assert sum(proxy.counts[kind] for kind in KINDS) > 0, dict(proxy.counts)
    if proxy.counts["signed"] > 2 * 10:  # every tenth call failed, the kinds in turn
        assert all(proxy.counts[kind] > 0 for kind in KINDS), dict(proxy.counts)

    # Nothing left running: no execution of the dispatch, no job of it in Batch's queue.
    sfn, batch = aws.client("stepfunctions"), aws.client("batch")
    deadline = time.monotonic() + 60
    while True:
        running = [
            e["name"]
            for e in sfn.list_executions(
                stateMachineArn=local_stack.state_machine_arn, statusFilter="RUNNING"
            )["executions"]
            if e["name"].startswith(result.dispatch_id)
        ]
        # With a filter, ListJobs lists every status (its jobStatus is then ignored).
        jobs = [
            j["jobId"]
            for j in batch.list_jobs(
                jobQueue=QUEUE,
                filters=[{"name": "JOB_NAME", "values": [f"covalent-{result.dispatch_id}-*"]}],
            )["jobSummaryList"]
            if j["status"] in _ACTIVE
        ]
        if not running and not jobs:
            break
        assert time.monotonic() < deadline, (running, jobs)
        time.sleep(2)
