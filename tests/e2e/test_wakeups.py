"""The push channel on the local stack: the Lambda wakes the waiting process through its queue.

The executor runs in this process (``DirectRun``), so what its marker watcher did is readable:
tasks resolved by a wake-up, and marker listings made. Everything on the AWS side is the real
local stack: moto's SQS, the relay calling the deployed handlers, Batch jobs in Docker.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

from covalent_eventbatch.cli import main as eventbatch
from covalent_eventbatch.executor import names
from covalent_eventbatch.executor.aws import clients_for
from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor
from covalent_eventbatch.executor.process import state

from .harness import DirectRun

pytestmark = pytest.mark.e2e


def _wake_queues(aws) -> set[str]:  # type: ignore[no-untyped-def]
    listed = aws.client("sqs").list_queues(QueueNamePrefix=names.WAKE_QUEUE_PREFIX)
    return set(listed.get("QueueUrls") or [])


def _adder():  # type: ignore[no-untyped-def]
    # Made here, not at module level, so that cloudpickle sends it by value to the container.
    def add(x: int, y: int) -> int:
        return x + y

    return add


def test_a_completion_wakes_the_process_without_a_listing(local_stack, aws) -> None:
    state().reset()
    direct = DirectRun(AWSBatchExecutor(pack_window=0))
    assert direct(_adder(), 40, 2) == 42
    watcher = state().markers
    assert (watcher.woken, watcher.listings) == (1, 0)
    # Its queue stays open for the process's next tasks, closed when it goes idle or exits.
    mine = state().wake_queue(clients_for(direct.executor.settings)).url()
    assert mine in _wake_queues(aws)
    state().close_wake_queues()
    assert mine not in _wake_queues(aws)


def test_packed_electrons_are_each_woken(local_stack, aws) -> None:
    state().reset()
    direct = DirectRun(AWSBatchExecutor(pack_window=3))
    results: dict[int, int] = {}
    add = _adder()

    def one(node: int) -> None:
        results[node] = direct(add, node, 100, node_id=node)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert results == {n: n + 100 for n in range(4)}
    assert state().markers.woken == 4 and state().markers.listings == 0
    state().close_wake_queues()


def test_a_deleted_queue_leaves_every_task_to_the_listing(local_stack, aws) -> None:
    state().reset()
    direct = DirectRun(AWSBatchExecutor(pack_window=0, marker_interval=1))
    box: list[object] = []

    def slow() -> str:
        import time

        time.sleep(25)
        return "done"

    runner = threading.Thread(target=lambda: box.append(direct(slow)))
    runner.start()
    sfn = aws.client("stepfunctions")
    deadline = time.monotonic() + 120
    while not [
        e
        for e in sfn.list_executions(stateMachineArn=local_stack.state_machine_arn)["executions"]
        if e["name"].startswith(direct.dispatch_id)
    ]:
        assert time.monotonic() < deadline, "the task's execution never started"
        time.sleep(0.5)
    mine = state().wake_queue(clients_for(direct.executor.settings)).url()
    aws.client("sqs").delete_queue(QueueUrl=mine)
    runner.join(timeout=300)
    assert box == ["done"]
    assert state().markers.woken == 0 and state().markers.listings >= 1


def test_a_killed_dispatchers_queue_is_removed_by_cleanup(local_stack, aws, capsys) -> None:
    opener = (
        "from covalent_eventbatch.executor.aws import clients_for\n"
        "from covalent_eventbatch.executor.cli import configured_settings\n"
        "from covalent_eventbatch.executor.process import state\n"
        "import sys, time\n"
        "print(state().wake_queue(clients_for(configured_settings())).url(), flush=True)\n"
        "time.sleep(600)\n"
    )
    process = subprocess.Popen([sys.executable, "-c", opener], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    assert url in _wake_queues(aws)
    assert eventbatch(["cleanup"]) == 0  # its process still runs: kept
    assert url in _wake_queues(aws)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    capsys.readouterr()
    assert eventbatch(["cleanup"]) == 0
    out = capsys.readouterr().out
    assert f"deleted wake-up queue {url}: process {process.pid}" in out
    assert url not in _wake_queues(aws)
