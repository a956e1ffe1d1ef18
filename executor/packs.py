"""Packs: electrons of one process that arrive together and share one Batch array job.

What decides a pack (``key``: everything that decides the Batch job), the gathering
(``Gatherer``), the launch (``launch``: the bundle of the members' small tasks, the manifest,
then one execution submitting one array job) and what a pack sends (``execution_input``,
``manifest``, ``Bundle``). Child i of the array job runs manifest entry i.

Gathering: Covalent calls ``run()`` once per electron, so a fan-out arrives as many separate calls
a few milliseconds apart. Each call joins a group keyed by everything that decides its Batch job
(job definition, vCPU/memory/GPU, queue, time limit, retry rules, dispatch). A lone member waits
``window`` seconds for company; once a second one has come (a fan-out is under way), the group
waits for stragglers up to ``FAN_OUT_QUIET_WINDOWS`` windows after the latest, since a busy
dispatcher's calls come further apart; never longer than ``MAX_WAIT_WINDOWS`` windows after its
first member, and never past Batch's array limit. A closed group is handed to ``launch`` on a
thread of its own. ``launch`` returns one result per member, in order; every member's future gets
its own. The ``Gatherer`` itself is generic: what a member is and how a group is launched are
given to it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from ..container.runner import MANIFEST_URI_ENV, MANIFEST_VERSION
from . import names, preparation, process, storage, workflow
from .aws import AwsClients
from .layout import PackLocation, TaskLocation
from .settings import ExecutorSettings

log = logging.getLogger(__name__)

# The fields of a manifest and of its entries, read by the container (container/runner.py) and
# by the Lambda (chalice_app/packs.py).
# "bundle" and "task_range" only when the pack's tasks travel in one object.
MANIFEST_FIELDS = (
    "version",
    "execution_arn",
    "report_failures_on_attempt",
    "resources",
    "tasks",
    "bundle",
)
MANIFEST_TASK_FIELDS = ("node_id", "task_uri", "marker", "task_range", "run_called_ms", "joined_ms")

# AWS Batch: arrayProperties.size is 2 to 10,000.
MAX_ARRAY_SIZE = 10_000
# A group of two or more waits this many windows after its latest member (measured through a real
# dispatcher on 2 busy cores: run() calls 45-180 ms apart, more while a first pack's containers
# start), and at most MAX_WAIT_WINDOWS after its first.
FAN_OUT_QUIET_WINDOWS = 4
MAX_WAIT_WINDOWS = 24

M = TypeVar("M")
R = TypeVar("R")

Launch = Callable[[Sequence[M]], Sequence[R]]


@dataclass
class _Group(Generic[M, R]):
    launch: Launch
    window: float
    first_at: float
    last_at: float
    members: list[M] = field(default_factory=list)
    futures: list[Future] = field(default_factory=list)

    def closes_at(self) -> float:
        quiet = self.window if len(self.members) == 1 else self.window * FAN_OUT_QUIET_WINDOWS
        return min(self.last_at + quiet, self.first_at + self.window * MAX_WAIT_WINDOWS)


class Gatherer(Generic[M, R]):
    """Groups members by key within a window; launches each closed group on its own thread."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, max_size: int = MAX_ARRAY_SIZE
    ) -> None:
        self._clock = clock
        self._max_size = max_size
        self._cond = threading.Condition()
        self._open: dict[Hashable, _Group[M, R]] = {}
        self._thread: threading.Thread | None = None
        self.launched_sizes: list[int] = []  # for tests and the benchmark

    def join(self, key: Hashable, member: M, window: float, launch: Launch) -> Future:
        """Add member to the open group of key (or open one); the future resolves to its result."""
        future: Future = Future()
        with self._cond:
            now = self._clock()
            group = self._open.get(key)
            if group is None:
                group = _Group(launch, window, now, now)
                self._open[key] = group
            group.members.append(member)
            group.futures.append(future)
            group.last_at = now
            if len(group.members) >= self._max_size:
                # Full: it goes now, and the next member of this key opens a new group.
                del self._open[key]
                self._start(group)
            elif self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="eventbatch-packing", daemon=True
                )
                self._thread.start()
            self._cond.notify_all()
        return future

    def _run(self) -> None:
        with self._cond:
            while self._open:
                now = self._clock()
                due = [k for k, g in self._open.items() if g.closes_at() <= now]
                for k in due:
                    self._start(self._open.pop(k))
                if self._open:
                    wait = min(g.closes_at() for g in self._open.values()) - now
                    self._cond.wait(max(wait, 0.001))
            self._thread = None

    def _start(self, group: _Group[M, R]) -> None:
        self.launched_sizes.append(len(group.members))
        threading.Thread(
            target=_launch_group, args=(group,), name="eventbatch-pack-launch", daemon=True
        ).start()


def _launch_group(group: _Group[Any, Any]) -> None:
    try:
        results = list(group.launch(group.members))
        if len(results) != len(group.futures):
            raise RuntimeError(
                f"pack launch returned {len(results)} results for {len(group.futures)} members"
            )
    except BaseException as exc:  # noqa: BLE001 - every member must hear of it
        for future in group.futures:
            future.set_exception(exc)
        return
    for future, result in zip(group.futures, results):
        future.set_result(result)


class Member:
    """An electron waiting to be packed: what launching its pack needs to know of it."""

    def __init__(
        self,
        settings: ExecutorSettings,
        clients: AwsClients,
        prepared: preparation.Prepared,
        location: TaskLocation,
        called_at: float,
        task: bytes | None = None,
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.prepared = prepared
        self.location = location
        self.called_at = called_at  # run() was called (monotonic clock)
        self.joined_at = time.monotonic()  # ready to be packed: pickled, image found
        # The pickled task, to travel in the pack's bundle; None: its task.pkl is uploaded.
        self.task = task


class Packed:
    """An electron's place in a started pack: the pack's execution, its array index and the
    wake-up queue named in its marker location."""

    def __init__(
        self, execution: workflow.Execution, index: int, wake_url: str | None = None
    ) -> None:
        self.execution = execution
        self.index = index
        self.wake_url = wake_url


def key(member: Member) -> tuple[Any, ...]:
    """Everything that decides the Batch job: electrons share a pack only when all of it matches.

    The job definition's name is a hash of its content (image, roles, environment, log group,
    platform); the rest is what SubmitJob sets per job.
    """
    s, location = member.settings, member.location
    return (
        id(member.clients),
        member.prepared.state_machine_arn,
        member.prepared.job_definition["JobDefinitionName"],
        s.batch_queue,
        json.dumps(workflow.resource_requirements(s)),
        json.dumps(workflow.retry_strategy(s), sort_keys=True),
        s.time_limit,
        location.bucket,
        location.prefix,
        location.dispatch_id,
    )


def join(member: Member) -> Future:
    """Join the process's open pack for this member's key; resolves to its place in the started
    pack, or None when it goes alone (a pack of one)."""
    return process.state().packs.join(key(member), member, member.settings.pack_window, launch)


def launch(members: Sequence[Member]) -> list[Packed | None]:
    """Start a pack's execution (a pack of one is left to take the single-electron path)."""
    if len(members) == 1:
        return [None]
    first = members[0]
    settings, clients, prepared = first.settings, first.clients, first.prepared
    pack = PackLocation(
        first.location.bucket,
        first.location.prefix,
        first.location.dispatch_id,
        tuple(m.location.node_id for m in members),
    )
    arn = names.execution_arn(prepared.state_machine_arn, pack.execution_name)
    # A pack's members share their process, so its wake-up queue.
    wake_url = process.state().wake_queue(clients).url()
    bundle = Bundle.of(f"s3://{pack.bucket}/{pack.bundle_key}", [m.task for m in members])
    if bundle is not None:  # one PutObject for the pack's small tasks
        storage.upload_parts(
            clients,
            pack.bucket,
            pack.bundle_key,
            [m.task for m in members if m.task is not None],
            settings.cache_dir,
        )
    document = manifest(settings, arn, [m.location for m in members], wake_url, bundle)
    # How spread out the electrons arrived, in ms from the first run() call: what pack_window
    # has to cover. For people reading a manifest; the children ignore it.
    start = min(m.called_at for m in members)
    for entry, m in zip(document["tasks"], members):
        entry["run_called_ms"] = round((m.called_at - start) * 1000)
        entry["joined_ms"] = round((m.joined_at - start) * 1000)
    storage.write_json(clients, pack.bucket, pack.manifest_key, document)
    payload = execution_input(settings, pack, prepared.job_definition)
    execution = preparation.start(clients, prepared, pack.execution_name, payload)
    log.info(
        "pack of %d electrons (nodes %s) started as %s",
        len(members),
        pack.pack_id,
        execution.arn,
    )
    return [Packed(execution, index, wake_url) for index in range(len(members))]


@dataclass(frozen=True)
class Bundle:
    """A pack's small tasks as one object: where it is, and each member's [start, end) in it
    (None: that member's task is its own task.pkl)."""

    uri: str
    ranges: list[tuple[int, int] | None]

    @classmethod
    def of(cls, uri: str, tasks: Sequence[bytes | None]) -> Bundle | None:
        """The bundle of these members' tasks, in order; None when none travels in it."""
        ranges: list[tuple[int, int] | None] = []
        end = 0
        for task in tasks:
            if task is None:
                ranges.append(None)
            else:
                ranges.append((end, end + len(task)))
                end += len(task)
        return cls(uri, ranges) if end else None


def execution_input(
    settings: ExecutorSettings, pack: PackLocation, definition: dict[str, Any]
) -> dict[str, Any]:
    """The input of a pack's execution: one array job, child i running manifest entry i."""
    first, last = min(pack.node_ids), max(pack.node_ids)
    return {
        "Marker": {"Bucket": pack.bucket, "Key": pack.marker_key},
        "Manifest": {"Bucket": pack.bucket, "Key": pack.manifest_key},
        "Task": {
            "DispatchId": pack.dispatch_id,
            "NodeIds": f"{first}-{last}",
            "Count": len(pack.node_ids),
        },
        "JobDefinition": definition,
        "Job": {
            "JobName": pack.job_name,
            "JobQueue": settings.batch_queue,
            "ArrayProperties": {"Size": len(pack.node_ids)},
            "ContainerOverrides": {
                "ResourceRequirements": workflow.resource_requirements(settings),
                "Environment": [
                    {
                        "Name": MANIFEST_URI_ENV,
                        "Value": f"s3://{pack.bucket}/{pack.manifest_key}",
                    }
                ],
            },
            # Batch applies both to each child on its own: its attempts, its time limit.
            "RetryStrategy": workflow.retry_strategy(settings),
            "Timeout": {"AttemptDurationSeconds": settings.time_limit},
            "Tags": {
                "covalent-dispatch-id": pack.dispatch_id,
                # Batch tag values allow letters, digits, spaces and _.:/=+-@ only.
                "covalent-node-ids": f"{first}-{last}",
                "covalent-node-count": str(len(pack.node_ids)),
            },
        },
    }


def manifest(
    settings: ExecutorSettings,
    execution_arn: str,
    members: list[TaskLocation],
    wake_url: str | None = None,
    bundle: Bundle | None = None,
) -> dict[str, Any]:
    """Array index -> electron: what each child runs and which marker it reports to."""
    document: dict[str, Any] = {
        "version": MANIFEST_VERSION,
        "execution_arn": execution_arn,
        # A child whose task failed reports it at once unless Batch may still retry it.
        "report_failures_on_attempt": workflow.report_failures_on_attempt(settings),
        # What every child asked Batch for (a pack shares it): its marker's resource-seconds.
        "resources": workflow.resource_requirements(settings),
        "tasks": [
            {
                "node_id": m.node_id,
                "task_uri": f"s3://{m.bucket}/{m.task_dir}",
                "marker": workflow.marker_location(m.bucket, m.marker_key, wake_url),
            }
            for m in members
        ],
    }
    if bundle is not None:
        # A child reads its task with one ranged GetObject; result and io.json stay in task_uri.
        document["bundle"] = bundle.uri
        for entry, task_range in zip(document["tasks"], bundle.ranges):
            if task_range is not None:
                entry["task_range"] = list(task_range)
    return document
