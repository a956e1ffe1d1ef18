"""One benchmark run in a process of its own: N concurrent tasks on one executor.

A fresh process per run keeps the process-wide state of each executor (clients, caches, the
marker watcher) and the CPU and memory figures apart. Prints nothing but writes a JSON document:
per-task times, every request counted at the client, CPU time, memory.

    python -m benchmarks.run_one --executor ours --tasks 10 --duration 5 --out run.json
"""

from __future__ import annotations

import os
import tempfile

# Covalent reads its folders when imported: keep them away from the user's own.
_COVALENT_HOME = os.environ.get("EVENTBATCH_BENCH_COVALENT") or tempfile.mkdtemp(prefix="bench-cv-")
for _name in ("CONFIG", "DATA", "CACHE"):
    os.environ.setdefault(f"COVALENT_{_name}_DIR", os.path.join(_COVALENT_HOME, _name.lower()))

import argparse  # noqa: E402
import asyncio  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict  # noqa: E402
from typing import Any  # noqa: E402

import cloudpickle  # noqa: E402

from covalent_eventbatch.executor import process  # noqa: E402
from covalent_eventbatch.executor.aws import AwsClients, clients_for  # noqa: E402
from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor  # noqa: E402
from covalent_eventbatch.localaws import stack  # noqa: E402
from covalent_eventbatch.localaws.dispatcher import DispatcherStandIn  # noqa: E402

from . import DEFAULT_TASK_TIMEOUT_S, EXECUTORS, task  # noqa: E402
from .counting import CHARGING, RequestCounter  # noqa: E402
from .polling import PollingExecutor  # noqa: E402


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run_one", description=__doc__)
    p.add_argument("--executor", choices=EXECUTORS, required=True)
    p.add_argument("--tasks", type=int, required=True)
    p.add_argument("--duration", type=float, required=True, help="seconds each task sleeps")
    p.add_argument("--poll-freq", type=float, default=10.0)
    p.add_argument(
        "--spread",
        type=float,
        default=0.0,
        help="task n of N sleeps duration + spread * (n + 0.5) / N seconds",
    )
    p.add_argument(
        "--task-timeout",
        type=float,
        default=DEFAULT_TASK_TIMEOUT_S,
        help="seconds after which a run() call is given up and counted as an error "
        f"(default {DEFAULT_TASK_TIMEOUT_S:g})",
    )
    p.add_argument("--dispatch-id", default="", help="default: a new unique id")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--profile", default="", help="also write a cProfile of every thread here")
    return p


def _vm(field: str) -> int:
    """A /proc/self/status memory figure, in KiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


class _ThreadProfiles:
    """cProfile sees only the thread it runs in: give every thread started from now its own.

    Timed by each thread's CPU clock, so waiting (the bulk of wall time) does not hide the work.
    """

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._original = threading.Thread.run

    def __enter__(self) -> _ThreadProfiles:
        profiles, original = self.profiles, self._original

        def run(thread: threading.Thread) -> None:
            profile = cProfile.Profile(time.thread_time)
            profiles.append(profile)
            profile.enable()
            try:
                original(thread)
            finally:
                profile.disable()

        threading.Thread.run = run  # type: ignore[method-assign,assignment]
        main = cProfile.Profile(time.thread_time)
        self.profiles.append(main)
        main.enable()
        return self

    def __exit__(self, *_: Any) -> None:
        self.profiles[0].disable()
        threading.Thread.run = self._original  # type: ignore[method-assign]

    def dump(self, path: str) -> None:
        stats = pstats.Stats(self.profiles[0])
        for profile in self.profiles[1:]:
            try:
                stats.add(profile)
            except TypeError:  # a thread that never ran any Python code
                continue
        stats.dump_stats(path)


async def _one(
    make: Callable[[], Any], node: int, duration: float, dispatch: str, timeout_s: float
) -> dict:
    dispatcher = DispatcherStandIn()
    executor = dispatcher.attach(make())
    called_wall, called = time.time(), time.monotonic()
    record: dict[str, Any] = {"node": node, "called": called, "error": None}
    try:
        # The baseline polls without a deadline: a job that never ends must not hang the run.
        start, end = await asyncio.wait_for(
            executor.run(
                task.timed_sleep, [duration], {}, {"dispatch_id": dispatch, "node_id": node}
            ),
            timeout_s,
        )
        record.update(task_start=start, task_end=end)
    except TimeoutError:
        record["error"] = f"TimeoutError: no result within {timeout_s:g} s (--task-timeout)"
    except Exception as exc:  # reported per task; the run goes on
        record["error"] = f"{type(exc).__name__}: {exc}"
    returned_wall = time.time()
    record.update(returned=time.monotonic(), returned_wall=returned_wall, called_wall=called_wall)
    record["job_handle"] = dispatcher.job_handle
    if record["error"] is None:
        record["detection_s"] = returned_wall - record["task_end"]
        record["overhead_s"] = (returned_wall - called_wall) - (
            record["task_end"] - record["task_start"]
        )
    return record


def sleep_seconds(duration: float, spread: float, node: int, tasks: int) -> float:
    """Completions spread evenly over ``spread`` seconds, so that they do not all fall at one
    phase of the polling cycle (which would make the baseline look always lucky or unlucky)."""
    return duration + spread * (node + 0.5) / max(tasks, 1)


async def _run_all(
    make: Callable[[], Any],
    tasks: int,
    duration: float,
    spread: float,
    dispatch: str,
    timeout_s: float = DEFAULT_TASK_TIMEOUT_S,
) -> list:
    # One event loop and its default thread pool for every task, as in Covalent's dispatcher,
    # which awaits each async executor's run() on its loop: both executors' blocking calls
    # (asyncio.to_thread) share that pool's min(32, CPUs + 4) threads.
    return list(
        await asyncio.gather(
            *(
                _one(make, n, sleep_seconds(duration, spread, n, tasks), dispatch, timeout_s)
                for n in range(tasks)
            )
        )
    )


class _Histories:
    """Each execution's history, read once: a pack's 200 electrons share one execution."""

    def __init__(self, clients: AwsClients) -> None:
        self._sfn = clients.client("stepfunctions")
        self._read: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, execution_arn: str) -> list[dict[str, Any]]:
        if execution_arn not in self._read:
            events: list[dict[str, Any]] = []
            paginator = self._sfn.get_paginator("get_execution_history")
            for page in paginator.paginate(executionArn=execution_arn):
                events += page["events"]
            self._read[execution_arn] = events
        return self._read[execution_arn]


def _state_transitions(history: _Histories, execution_arn: str) -> dict[str, Any]:
    """Step Functions bills state transitions: count one execution's entered states."""
    events = history(execution_arn)
    entered = [e for e in events if e["type"].endswith("StateEntered")]
    return {
        "state_transitions": len(entered),
        "states": [e.get("stateEnteredEventDetails", {}).get("name") for e in entered],
        "history_events": len(events),
    }


def _executions(history: _Histories, records: list[dict]) -> dict[str, Any]:
    """Every execution the run started: how many, their SubmitJob calls and state transitions."""
    arns = sorted({r["job_handle"]["execution_arn"] for r in records if r["job_handle"]})
    submits = transitions = 0
    parents: dict[str, str] = {}
    for arn in arns:
        events = history(arn)
        transitions += sum(1 for e in events if e["type"].endswith("StateEntered"))
        for e in events:
            details = e.get("taskSubmittedEventDetails") or {}
            if details.get("resourceType") == "batch":
                submits += 1
                parents[arn] = json.loads(details.get("output") or "{}").get("JobId")
    return {
        "executions": len(arns),
        "submit_jobs": submits,
        "state_transitions_total": transitions,
        "parents": parents,
    }


def _child_stops(clients: AwsClients, records: list[dict], parents: dict[str, str]) -> dict:
    """When Batch says each packed electron's child job stopped (epoch s)."""
    ids = {}
    for r in records:
        handle = r["job_handle"]
        if (
            handle
            and handle.get("array_index") is not None
            and parents.get(handle["execution_arn"])
        ):
            ids[f"{parents[handle['execution_arn']]}:{handle['array_index']}"] = r["node"]
    stops: dict[int, float] = {}
    batch = clients.client("batch")
    listed = list(ids)
    for start in range(0, len(listed), 100):
        for job in batch.describe_jobs(jobs=listed[start : start + 100])["jobs"]:
            if job.get("stoppedAt") and job["jobId"] in ids:
                stops[ids[job["jobId"]]] = job["stoppedAt"] / 1000
    return stops


def _batch_stops(
    clients: AwsClients, history: _Histories, executor: str, records: list[dict]
) -> dict[int, float]:
    """When Batch says each job stopped (epoch s): splits detection into Batch's lag and ours."""
    stops: dict[int, float] = {}
    if executor == "polling":
        ids = {r["job_handle"]["job_id"]: r["node"] for r in records if r["job_handle"]}
        batch = clients.client("batch")
        for start in range(0, len(ids), 100):
            for job in batch.describe_jobs(jobs=list(ids)[start : start + 100])["jobs"]:
                if job.get("stoppedAt"):
                    stops[ids[job["jobId"]]] = job["stoppedAt"] / 1000
        return stops
    for r in records:
        if not r["job_handle"]:
            continue
        for event in history(r["job_handle"]["execution_arn"]):
            details = event.get("taskSucceededEventDetails") or {}
            if details.get("resource") == "submitJob.sync":
                stopped = json.loads(details["output"]).get("StoppedAt")
                if stopped:
                    stops[r["node"]] = stopped / 1000
    return stops


def _close_wake_queues() -> None:
    """Delete the process's wake-up queues now, as it would when going idle or at exit.

    Its DeleteQueue then counts (as setup) in this run instead of happening after the counts are
    written. An executor without wake-up queues has nothing to close.
    """
    close = getattr(process.state(), "close_wake_queues", None)
    if close is not None:
        close()


def run(args: argparse.Namespace) -> dict[str, Any]:
    state = stack.StackState.load()
    settings = stack.local_settings(state, poll_freq=args.poll_freq)
    counter = RequestCounter()
    make: Callable[[], Any]
    if args.executor in ("ours", "packed"):
        clients = clients_for(settings)  # the very clients the product's executor uses
        counter.attach(clients.session)
        config = settings.to_config()
        if args.executor == "ours":
            config["pack_window"] = 0
        make = lambda: AWSBatchExecutor(**config)  # noqa: E731 - one executor per task, as Covalent
    else:
        # The original plugin's users hold broad rights (it registers and submits itself).
        settings = stack.local_settings(
            state, poll_freq=args.poll_freq, profile=stack.ADMIN_PROFILE
        )
        clients = AwsClients(
            settings.credentials, settings.profile, settings.region, settings.endpoint_url
        )
        counter.attach(clients.session)
        make = lambda: PollingExecutor(settings, clients)  # noqa: E731
    cloudpickle.register_pickle_by_value(task)
    dispatch = args.dispatch_id or f"bench-{args.executor}-{uuid.uuid4().hex[:12]}"

    rss_before = _vm("VmRSS")
    cpu_before = time.process_time()
    profiler = _ThreadProfiles() if args.profile else None
    if profiler:
        with profiler:
            records = asyncio.run(
                _run_all(make, args.tasks, args.duration, args.spread, dispatch, args.task_timeout)
            )
        profiler.dump(args.profile)
    else:
        records = asyncio.run(
            _run_all(make, args.tasks, args.duration, args.spread, dispatch, args.task_timeout)
        )
    if args.executor in ("ours", "packed"):
        _close_wake_queues()
    cpu_s = time.process_time() - cpu_before
    peak_kib = _vm("VmHWM")

    start = min(r["called"] for r in records)
    end = max(r["returned"] for r in records)
    result: dict[str, Any] = {
        "executor": args.executor,
        "tasks": args.tasks,
        "duration": args.duration,
        "poll_freq": args.poll_freq,
        "spread": args.spread,
        "dispatch_id": dispatch,
        "window_s": end - start,
        "cpu_s": cpu_s,
        "rss_before_mib": rss_before / 1024,
        "peak_rss_mib": peak_kib / 1024,
        "records": records,
        "requests": [asdict(r) for r in counter.requests],
        "charging": {k: sorted(map(list, v)) for k, v in asdict(CHARGING[args.executor]).items()},
    }
    # Looked up after the run, with clients of their own: not counted against either executor.
    checker = AwsClients(
        settings.credentials, settings.profile, settings.region, settings.endpoint_url
    )
    history = _Histories(checker)
    if args.executor == "polling":
        stops = _batch_stops(checker, history, args.executor, records)
    else:
        counted = _executions(history, records)
        result.update({k: v for k, v in counted.items() if k != "parents"})
        stops = _batch_stops(checker, history, args.executor, records)
        stops.update(_child_stops(checker, records, counted["parents"]))
    for node, stopped in stops.items():
        record = records[node]
        if record["error"] is None:
            record["batch_lag_s"] = stopped - record["task_end"]
            record["after_batch_s"] = record["returned_wall"] - stopped
    if args.executor in ("ours", "packed"):
        handle = next((r["job_handle"] for r in records if r["job_handle"]), None)
        if handle:
            result.update(_state_transitions(history, handle["execution_arn"]))
    return result


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    result = run(args)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=1, default=str)


if __name__ == "__main__":
    main()
