"""The local stack's Batch capacity (localaws/moto_capacity.py): its bookkeeping, with fake jobs,
and with retries in moto in-process (a probe in a fresh interpreter, since the patches change
moto's classes). The end-to-end test (tests/e2e/test_capacity.py) runs real containers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from covalent_eventbatch.localaws.engine import LocalStackError
from covalent_eventbatch.localaws.moto_capacity import (
    SLOTS_ENV,
    Capacity,
    Environment,
    Request,
    Slots,
    machine_slots,
    never_fits,
    requested_vcpus,
)

UNMANAGED = (Environment("unmanaged", None),)
SMALL = (Environment("small", 4),)


def _request(
    job: str,
    order: int,
    vcpus: float = 1,
    queue: str = "q",
    priority: int = 1,
    environments: tuple[Environment, ...] = UNMANAGED,
) -> Request:
    return Request(job, queue, priority, order, vcpus, environments)


def _enqueue(slots: Slots, *requests: Request) -> None:
    for request in requests:
        slots.enqueue(request)


def test_the_machines_slots_bound_the_jobs_started_and_free_ones_go_first_come() -> None:
    slots = Slots(containers=2)
    _enqueue(slots, *(_request(f"j{i}", i) for i in range(5)))
    assert slots.admit() == ["j0", "j1"]
    assert slots.admit() == []  # full
    assert slots.release("j1")
    assert slots.admit() == ["j2"]
    assert not slots.release("j1")  # released already: nothing more to free
    assert [r.job for r in slots.waiting] == ["j3", "j4"]


def test_an_environments_max_vcpus_bounds_its_jobs_by_their_vcpus() -> None:
    slots = Slots(containers=100)
    _enqueue(slots, _request("two", 0, 2, environments=SMALL))
    _enqueue(slots, _request("one", 1, 1, environments=SMALL))
    _enqueue(slots, _request("quarter", 2, 0.25, environments=SMALL))
    _enqueue(slots, _request("another", 3, 1, environments=SMALL))
    assert slots.admit() == ["two", "one", "quarter"]  # 3.25 of 4 vCPUs: 1 more does not fit
    assert slots.used["small"] == pytest.approx(3.25)
    slots.release("two")
    assert slots.admit() == ["another"]


def test_a_queues_first_job_that_does_not_fit_holds_back_the_rest_of_its_queue() -> None:
    slots = Slots(containers=100)
    _enqueue(slots, _request("running", 0, 3, environments=SMALL))
    assert slots.admit() == ["running"]
    _enqueue(slots, _request("big", 1, 2, environments=SMALL))
    _enqueue(slots, _request("small-after", 2, 1, environments=SMALL))
    # Another queue on the same environment is not held back by this queue's head.
    _enqueue(slots, _request("other", 3, 1, queue="other", environments=SMALL))
    assert slots.admit() == ["other"]
    slots.release("running")
    assert slots.admit() == ["big", "small-after"]


def test_the_next_environment_of_the_queue_takes_what_the_first_has_no_room_for() -> None:
    two = (Environment("first", 1), Environment("second", 1))
    slots = Slots(containers=100)
    _enqueue(slots, *(_request(f"j{i}", i, environments=two) for i in range(3)))
    assert slots.admit() == ["j0", "j1"]
    assert slots.held["j0"][1] == "first" and slots.held["j1"][1] == "second"
    slots.release("j1")
    assert slots.admit() == ["j2"]
    assert slots.held["j2"][1] == "second"


def test_a_higher_priority_queue_goes_first_and_a_retried_job_keeps_its_place() -> None:
    slots = Slots(containers=1)
    _enqueue(slots, _request("low", 0, priority=1), _request("high", 1, queue="h", priority=10))
    assert slots.admit() == ["high"]
    slots.release("high")
    _enqueue(slots, _request("later", 5))
    _enqueue(slots, _request("retried", 2))  # back in line for its next attempt
    assert slots.admit() == ["low"]
    slots.release("low")
    assert slots.admit() == ["retried"]


def test_a_withdrawn_job_frees_nothing_and_no_longer_holds_its_queue_back() -> None:
    slots = Slots(containers=100)
    _enqueue(slots, _request("running", 0, 3, environments=SMALL))
    _enqueue(slots, _request("big", 1, 4, environments=SMALL))
    _enqueue(slots, _request("small", 2, 1, environments=SMALL))
    assert slots.admit() == ["running"]
    assert slots.withdraw("big")
    assert not slots.withdraw("big")
    assert not slots.release("big")  # held nothing
    assert slots.used["small"] == 3
    assert slots.admit() == ["small"]


def test_a_job_larger_than_every_environment_never_fits() -> None:
    assert never_fits(_request("j", 0, 8, environments=SMALL))
    assert not never_fits(_request("j", 0, 8, environments=SMALL + UNMANAGED))
    assert not never_fits(_request("j", 0, 4, environments=SMALL))


def test_a_waiting_job_gets_its_room_when_another_gives_it_back() -> None:
    capacity = Capacity(Slots(containers=1), poll_s=0.05)
    assert capacity.acquire(_request("first", 0), lambda: False)
    got = threading.Event()
    waiter = threading.Thread(
        target=lambda: capacity.acquire(_request("second", 1), lambda: False) and got.set()
    )
    waiter.start()
    assert not got.wait(0.3)
    capacity.release("first")
    assert got.wait(2)
    waiter.join(2)
    assert capacity.holds("second") and not capacity.holds("first")


def test_a_waiting_job_that_is_stopped_leaves_the_line_without_room() -> None:
    capacity = Capacity(Slots(containers=1), poll_s=0.05)
    assert capacity.acquire(_request("first", 0), lambda: False)
    stop = threading.Event()
    outcome: list[bool] = []
    waiter = threading.Thread(
        target=lambda: outcome.append(capacity.acquire(_request("second", 1), stop.is_set))
    )
    waiter.start()
    time.sleep(0.2)
    stop.set()
    waiter.join(2)
    assert outcome == [False]
    assert capacity.slots.waiting == [] and not capacity.holds("second")
    capacity.release("second")  # what run's end does: it held nothing, nothing is freed
    assert capacity.holds("first")


def test_the_slots_default_to_four_per_cpu_at_least_four_and_the_variable_overrides() -> None:
    assert machine_slots({}, cpus=2) == 8
    assert machine_slots({}, cpus=1) == 4
    assert machine_slots({SLOTS_ENV: " 2 "}, cpus=64) == 2
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(LocalStackError, match=SLOTS_ENV):
            machine_slots({SLOTS_ENV: bad}, cpus=2)


def test_a_jobs_vcpus_come_from_its_overrides_then_its_definition_then_one() -> None:
    def job(definition: dict, overrides: dict) -> SimpleNamespace:
        return SimpleNamespace(
            job_definition=SimpleNamespace(container_properties=definition),
            container_overrides=overrides,
        )

    requirement = {"resourceRequirements": [{"type": "VCPU", "value": "2"}]}
    override = {"resourceRequirements": [{"type": "VCPU", "value": "0.5"}]}
    assert requested_vcpus(job(requirement, override)) == 0.5
    assert requested_vcpus(job(requirement, {})) == 2
    assert requested_vcpus(job({"vcpus": 3}, {})) == 3
    assert requested_vcpus(job({}, {})) == 1


def test_a_retried_job_waits_runnable_for_its_slot_and_ends_unstarted_when_terminated() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "tests.localaws.capacity_probe"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["most_running"] == 1
    # The higher-priority queue's job took the slot the retried job gave back.
    assert found["seen"]["retried"][-3:] == ["RUNNING", "RUNNABLE", "FAILED"]
    assert found["jobs"]["urgent"]["status"] == "SUCCEEDED"
    retried = found["jobs"]["retried"]
    assert (retried["status"], retried["statusReason"]) == ("FAILED", "stopped while it waited")
    # Its one attempt is left as it ended, and the job's start is still that attempt's.
    assert [(a["exitCode"], a["statusReason"]) for a in retried["attempts"]] == [
        (1, "Essential container in task exited")
    ]
    assert retried["startedAt"] == retried["attempts"][0]["startedAt"]
