"""Batch capacity on the local stack: jobs wait RUNNABLE until there is room (moto 5.2.5 only).

moto 5.2.5 starts every job and array child as soon as it is submitted, whatever the compute
environment's size, and starts an attempt's ``attemptDurationSeconds`` clock before its container
exists: on a small machine a large fan-out then times out while its containers queue for the CPU.
On AWS a job waits RUNNABLE until a compute environment of its queue has room for it, and the
limit counts from the attempt's start. Here, as there:

* a job (or array child) takes its requested vCPUs (``VCPU`` of its resource requirements,
  overrides first, else the legacy ``vcpus``, else 1) from the first compute environment of its
  queue with room, within the environment's ``maxvCpus`` (an unmanaged one has no bound), and one
  of the machine's container slots: ``max(4, 4 x CPUs)``, or ``$EVENTBATCH_LOCAL_BATCH_SLOTS``;
* waiting jobs get room by their queue's priority, then in submission order; a queue's first job
  that does not fit holds back the rest of its queue (FIFO, as AWS's queues are);
* the attempt starts (STARTING, RUNNING, ``startedAt``, the time limit's clock) when the job gets
  its room, which it gives back when the attempt's container is gone; a retried job waits again;
* TerminateJob or CancelJob of a waiting job ends it FAILED with the reason given, no attempt run.

``Slots`` is the bookkeeping (no threads, no moto); ``apply`` wires it into moto's Job.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from .engine import LocalStackError
from .moto_batch import merged_requirements

PATCHED_MOTO_VERSION = "5.2.5"
SLOTS_ENV = "EVENTBATCH_LOCAL_BATCH_SLOTS"
_POLL_S = 0.5  # how soon a waiting job notices TerminateJob; moto's own loops poll as often
_EPSILON = 1e-9  # Fargate's fractional vCPUs (0.25, 0.5) add up inexactly as floats
_capacity: Capacity | None = None


def machine_slots(environ: Mapping[str, str] | None = None, cpus: int | None = None) -> int:
    """How many Batch containers this machine runs at once: the variable, else max(4, 4 x CPUs).

    Jobs mostly wait (on S3, on sleeps, on the network) and a container takes about 1-2 s of
    CPU to start, so a few per core keep the CPU busy without making each start take long.
    """
    environ = os.environ if environ is None else environ
    given = environ.get(SLOTS_ENV, "").strip()
    if given:
        try:
            value = int(given)
        except ValueError:
            value = 0
        if value < 1:
            raise LocalStackError(
                f"{SLOTS_ENV}={given!r}: give a whole number of containers, at least 1"
            )
        return value
    return max(4, 4 * (cpus if cpus is not None else os.cpu_count() or 1))


@dataclass(frozen=True)
class Environment:
    """A compute environment as the scheduler sees it."""

    name: str
    max_vcpus: float | None  # None: unbounded (an unmanaged environment has no maxvCpus)


@dataclass(frozen=True)
class Request:
    """A job waiting for room."""

    job: Hashable
    queue: str
    priority: int
    order: int  # submission order: a retried job keeps its place
    vcpus: float
    environments: tuple[Environment, ...]  # the queue's, in its computeEnvironmentOrder


class Slots:
    """Which waiting jobs may start: the machine's container slots and each environment's vCPUs."""

    def __init__(self, containers: int) -> None:
        self.containers = containers
        self.waiting: list[Request] = []
        self.held: dict[Hashable, tuple[Request, str]] = {}  # job -> (its request, environment)
        self.used: dict[str, float] = {}  # environment -> vCPUs taken

    def enqueue(self, request: Request) -> None:
        self.waiting.append(request)

    def holds(self, job: Hashable) -> bool:
        return job in self.held

    def admit(self) -> list[Hashable]:
        """Give room to the waiting jobs that fit, in order; return them."""
        granted: list[Hashable] = []
        blocked: set[str] = set()
        for request in sorted(self.waiting, key=lambda r: (-r.priority, r.order)):
            if len(self.held) >= self.containers:
                break
            if request.queue in blocked:
                continue
            environment = self._room_for(request)
            if environment is None:
                blocked.add(request.queue)  # nothing overtakes it in its own queue
                continue
            self.waiting.remove(request)
            self.held[request.job] = (request, environment)
            self.used[environment] = self.used.get(environment, 0.0) + request.vcpus
            granted.append(request.job)
        return granted

    def _room_for(self, request: Request) -> str | None:
        for environment in request.environments:
            used = self.used.get(environment.name, 0.0)
            if (
                environment.max_vcpus is None
                or used + request.vcpus <= environment.max_vcpus + _EPSILON
            ):
                return environment.name
        return None

    def withdraw(self, job: Hashable) -> bool:
        """Take a waiting job out of line (it was terminated); False when it was not waiting."""
        before = len(self.waiting)
        self.waiting = [r for r in self.waiting if r.job is not job]
        return len(self.waiting) != before

    def release(self, job: Hashable) -> bool:
        """Give back what the job holds; False when it holds nothing."""
        taken = self.held.pop(job, None)
        if taken is None:
            return False
        request, environment = taken
        self.used[environment] -= request.vcpus
        return True


def never_fits(request: Request) -> bool:
    """True when no environment of the job's queue could ever hold it (it stays RUNNABLE)."""
    return all(
        e.max_vcpus is not None and request.vcpus > e.max_vcpus + _EPSILON
        for e in request.environments
    )


class Capacity:
    """Slots shared by the jobs' threads: a job blocks in ``acquire`` until it gets room."""

    def __init__(self, slots: Slots, poll_s: float = _POLL_S) -> None:
        self.slots = slots
        self._poll_s = poll_s
        self._changed = threading.Condition()

    def acquire(self, request: Request, stopped: Callable[[], bool]) -> bool:
        """Wait for room; False (and out of line) when ``stopped()`` turns true first."""
        with self._changed:
            self.slots.enqueue(request)
            while True:
                if self.slots.admit():
                    self._changed.notify_all()  # others may have been given room too
                if self.slots.holds(request.job):
                    return True
                if stopped():
                    self.slots.withdraw(request.job)
                    self._changed.notify_all()  # it may have held its queue back
                    return False
                self._changed.wait(self._poll_s)

    def holds(self, job: Hashable) -> bool:
        with self._changed:
            return self.slots.holds(job)

    def release(self, job: Hashable) -> None:
        with self._changed:
            if self.slots.release(job):
                self._changed.notify_all()


class NeverStarted(Exception):
    """Raised out of moto's run when a waiting job is terminated: it ends with no container."""


def requested_vcpus(job: Any) -> float:
    """The vCPUs a job asks for: VCPU (overrides first), else the legacy ``vcpus``, else 1."""
    for requirement in merged_requirements(job):
        if requirement["type"] == "VCPU":
            return float(requirement["value"])
    legacy = job.container_overrides.get("vcpus") or (
        job.job_definition.container_properties or {}
    ).get("vcpus")
    return float(legacy or 1)


def _request(job: Any) -> Request:
    queue = job.job_queue
    return Request(
        job=job,
        queue=queue.arn,
        priority=int(queue.priority or 0),
        order=job._submission_order,
        vcpus=requested_vcpus(job),
        environments=tuple(
            Environment(env.arn, _max_vcpus(env.compute_resources)) for env in queue.environments
        ),
    )


def _max_vcpus(resources: dict[str, Any] | None) -> float | None:
    value = (resources or {}).get("maxvCpus")
    return None if value is None else float(value)


def apply(containers: int | None = None) -> bool:
    """Patch moto's Batch jobs to wait for room; False when moto is not the known version.

    Apply before moto_batch and moto_retries: its Job.run wrapper then runs once per attempt.
    """
    global _capacity
    import moto
    from moto.batch import models
    from moto.batch.utils import JobStatus

    if moto.__version__ != PATCHED_MOTO_VERSION:
        return False
    if _capacity is not None:
        return True
    capacity = Capacity(Slots(containers or machine_slots()))
    order = itertools.count()
    job_init = models.Job.__init__
    advance = models.Job.advance
    start_attempt = models.Job._start_attempt
    run = models.Job.run
    describe_short = models.Job.describe_short

    def _init(self: Any, *args: Any, **kwargs: Any) -> None:
        job_init(self, *args, **kwargs)
        self._submission_order = next(order)

    def _advance(self: Any) -> None:
        # moto moves a job on at its next step; a job waiting for room stays RUNNABLE.
        if self._status == JobStatus.RUNNABLE and not capacity.holds(self):
            return
        advance(self)

    def _start_attempt(self: Any) -> None:
        # moto calls this while the job is RUNNABLE, before it starts STARTING and its container.
        from datetime import datetime

        request = _request(self)
        if never_fits(request):
            print(
                f"Batch job {self.job_id} asks for {request.vcpus:g} vCPUs, more than any "
                "compute environment of its queue has: it stays RUNNABLE, as on AWS",
                file=sys.stderr,
            )
        if not capacity.acquire(request, lambda: bool(self.stop)):
            # No attempt ran: none is recorded, a retry's previous one is left as it ended, and
            # the job's startedAt stays its last attempt's (moto set it before calling here).
            self.latest_attempt = None
            previous = getattr(self, "_granted_at", None)
            if previous is not None:
                self.job_started_at = previous
            else:
                self._never_started = True
            raise NeverStarted(f"{self.job_id} was terminated while RUNNABLE")
        # The attempt, its startedAt and its time limit's clock start now (moto: at RUNNABLE).
        self.job_started_at = self._granted_at = datetime.now()
        start_attempt(self)

    def _describe_short(self: Any) -> dict[str, Any]:
        result = describe_short(self)
        if getattr(self, "_never_started", False):
            result.pop("startedAt", None)  # AWS gives none to a job ended before it started
        return result

    def _run(self: Any) -> None:
        try:
            run(self)
        finally:
            capacity.release(self)  # the attempt's container is gone

    models.Job.__init__ = _init  # type: ignore[method-assign]
    models.Job.advance = _advance  # type: ignore[method-assign]
    models.Job._start_attempt = _start_attempt  # type: ignore[method-assign]
    models.Job.run = _run  # type: ignore[method-assign]
    models.Job.describe_short = _describe_short  # type: ignore[method-assign]
    _capacity = capacity
    return True
