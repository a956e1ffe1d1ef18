"""Compare the event-driven executor with a polling one, side by side on the local stack.

For each scenario (N concurrent tasks that each sleep D seconds) both executors run the same
task on the same stack, one after the other, each in a process of its own
(``benchmarks.run_one``). Reported per executor: completion-detection latency (the task's own end
time to run() returning), overhead per task, AWS requests per task counted at the client, the
process-wide awaiting cost, CPU time and peak memory; and the ratios ours / baseline. Writes a
table to the terminal and JSON, Markdown and PNG files to the output folder.

    python -m benchmarks.compare --quick
    python -m benchmarks.compare --tasks 1 10 --durations 5 120
    python -m benchmarks.compare --scenario 50x5 --scenario 50x120 --keep-stack
    python -m benchmarks.compare --scenario 1x5 --scenario 50x5 --scenario 1x120 \
        --scenario 200x5:packed,polling        # every target's scenario
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from . import DEFAULT_TASK_TIMEOUT_S, EXECUTORS, report

DEFAULT_MOTO_PORT = 5255  # not the stack's or the tests' defaults: a developer's stack stays up
DEFAULT_REGISTRY_PORT = 5256


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.compare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--tasks", type=int, nargs="+", default=[1, 10, 50], help="N (default 1 10 50)")
    p.add_argument(
        "--durations", type=float, nargs="+", default=[5, 120], help="task seconds (default 5 120)"
    )
    p.add_argument(
        "--scenario",
        action="append",
        default=[],
        metavar="NxD[:EXECUTORS]",
        help="run only these scenarios, e.g. 10x5 (repeatable; overrides --tasks/--durations); "
        "a comma-separated list after a colon runs only those executors in that scenario, "
        "e.g. 200x5:packed,polling",
    )
    p.add_argument("--quick", action="store_true", help="a short run: 1 and 5 tasks of 5 s")
    p.add_argument("--poll-freq", type=float, default=10.0, help="both executors' poll_freq")
    p.add_argument(
        "--spread",
        type=float,
        default=None,
        help="task ends spread evenly over this many seconds after the duration (default: "
        "poll_freq), so that completions cover every phase of the polling cycle",
    )
    p.add_argument(
        "--executors",
        nargs="+",
        default=list(EXECUTORS),
        choices=EXECUTORS,
        help="ours: each electron alone (pack_window 0); packed: the default, fan-outs as one "
        "array job; polling: the baseline",
    )
    p.add_argument(
        "--task-timeout",
        type=float,
        default=DEFAULT_TASK_TIMEOUT_S,
        help="seconds after which a task's run() is given up and counted as an error "
        f"(default {DEFAULT_TASK_TIMEOUT_S:g})",
    )
    p.add_argument("--moto-port", type=int, default=DEFAULT_MOTO_PORT)
    p.add_argument("--registry-port", type=int, default=DEFAULT_REGISTRY_PORT)
    p.add_argument(
        "--stack-home",
        default="~/.eventbatch/bench",
        help="the local stack's state folder (default ~/.eventbatch/bench, not the folder of a "
        "developer's stack, whose ports and processes it would take over)",
    )
    p.add_argument("--keep-stack", action="store_true", help="leave the local stack up at the end")
    p.add_argument("--out", default="bench-results", help="output folder (default bench-results)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: rebuild the report from the runs already in the output folder",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also profile one 10-task run of the event-driven executor (cProfile, every thread)",
    )
    return p


Scenario = tuple[int, float, tuple[str, ...]]  # tasks, seconds, executors in run order


def parse_scenario(text: str, executors: list[str]) -> Scenario:
    """Read "50x5" (the given executors) or "200x5:packed,polling" (those, in that order)."""
    shape, _, only = text.lower().partition(":")
    n, _, d = shape.partition("x")
    try:
        tasks, duration = int(n), float(d.rstrip("s"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"scenario {text!r}: write NxD, e.g. 50x5") from None
    chosen = tuple(e.strip() for e in only.split(",") if e.strip()) if only else tuple(executors)
    unknown = [e for e in chosen if e not in EXECUTORS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"scenario {text!r}: executors are {', '.join(EXECUTORS)} (got {only!r})"
        )
    return tasks, duration, chosen


def scenarios_of(args: argparse.Namespace) -> list[Scenario]:
    if args.scenario:
        return [parse_scenario(text, args.executors) for text in args.scenario]
    every = tuple(args.executors)
    if args.quick:
        return [(1, 5.0, every), (5, 5.0, every)]
    return [(n, d, every) for d in args.durations for n in args.tasks]


def _run_one(
    executor: str,
    tasks: int,
    duration: float,
    args: argparse.Namespace,
    out: Path,
    profile: str = "",
) -> dict[str, Any] | None:
    """One run in a process of its own; None when it failed (the benchmark goes on without it)."""
    path = out / "runs" / f"{executor}-{tasks}x{duration:g}s.json"
    command = [
        sys.executable, "-m", "benchmarks.run_one", "--executor", executor,
        "--tasks", str(tasks), "--duration", str(duration), "--poll-freq", str(args.poll_freq),
        "--spread", str(args.poll_freq if args.spread is None else args.spread),
        "--task-timeout", str(args.task_timeout),
        "--out", str(path),
    ]  # fmt: skip
    if profile:
        path = out / "runs" / f"profile-{executor}-{tasks}x{duration:g}s.json"
        command[-1] = str(path)
        command += ["--profile", profile]
    started = time.monotonic()
    try:
        subprocess.run(command, check=True)
    except subprocess.CalledProcessError as exc:
        # An hour-long benchmark keeps its other runs; the targets then say what is missing.
        print(f"  {executor:8} {tasks:3} x {duration:g} s  FAILED (exit {exc.returncode})")
        return None
    print(f"  {executor:8} {tasks:3} x {duration:g} s  done in {time.monotonic() - started:.0f} s")
    return dict(json.loads(path.read_text()))


def _ratios(scenario: dict[str, Any]) -> None:
    if scenario.get("ours") and scenario.get("polling"):
        scenario["ratios"] = report.compare(scenario["ours"], scenario["polling"])
    if scenario.get("packed") and scenario.get("ours"):
        scenario["packed_ratios"] = report.compare(scenario["packed"], scenario["ours"])
    if scenario.get("packed") and scenario.get("polling"):
        scenario["packed_polling_ratios"] = report.compare(scenario["packed"], scenario["polling"])


def _print_table(header: list[str], rows: list[list[str]]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(report.markdown(header, rows))
        return
    table = Table(*header, title="event-driven vs polling (ratio = ours / polling)")
    for row in rows:
        table.add_row(*row, style="dim" if row[2].startswith("ratio") else None)
    Console(width=max(160, len(" ".join(header)) + 40)).print(table)


def _profile_summary(profile: str, limit: int = 30) -> str:
    import io
    import pstats

    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text)
    stats.sort_stats("tottime").print_stats(limit)
    # The executor's own functions, whatever they call: what an edit to the product could change.
    stats.sort_stats("cumulative").print_stats(r"executor[/\\]", limit)
    return text.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        chosen = scenarios_of(args)
    except argparse.ArgumentTypeError as exc:
        parser.error(str(exc))
    home = Path(args.stack_home).expanduser()
    os.environ["EVENTBATCH_LOCAL_HOME"] = str(home)
    os.environ.setdefault("EVENTBATCH_BENCH_COVALENT", str(home / "covalent"))
    out = Path(args.out)
    (out / "runs").mkdir(parents=True, exist_ok=True)

    scenarios: list[dict[str, Any]] = []
    if args.report_only:
        for tasks, duration, executors in chosen:
            scenario: dict[str, Any] = {"tasks": tasks, "duration": duration}
            for executor in executors:
                path = out / "runs" / f"{executor}-{tasks}x{duration:g}s.json"
                if path.exists():
                    scenario[executor] = report.summarize_run(json.loads(path.read_text()))
            _ratios(scenario)
            if len(scenario) > 2:
                scenarios.append(scenario)
        return _report(scenarios, args, out)

    from covalent_eventbatch.localaws import stack

    from .polling import runtime_image

    print(f"local stack in {home} (moto :{args.moto_port}, registry :{args.registry_port})")
    profile_text = ""
    try:
        state = stack.up(args.moto_port, args.registry_port, write_config=False, say=lambda _: None)
        from importlib.metadata import version

        from covalent_eventbatch.executor.aws import AwsClients

        settings = stack.local_settings(state)
        clients = AwsClients(
            settings.credentials, settings.profile, settings.region, settings.endpoint_url
        )
        # Built (or found) once here, so no run pays for an image build.
        print("runtime image:", runtime_image(settings, clients, version("covalent")))
        for tasks, duration, executors in chosen:
            print(f"scenario: {tasks} tasks of {duration:g} s ({', '.join(executors)})")
            scenario = {"tasks": tasks, "duration": duration}
            for executor in executors:
                raw = _run_one(executor, tasks, duration, args, out)
                if raw is not None:
                    scenario[executor] = report.summarize_run(raw)
            _ratios(scenario)
            scenarios.append(scenario)
        if args.profile:
            profile = str(out / "profile-ours-10x5s.prof")
            if _run_one("ours", 10, 5.0, args, out, profile=profile) is not None:
                profile_text = _profile_summary(profile)
                (out / "profile-ours-10x5s.txt").write_text(profile_text)
    finally:
        if not args.keep_stack:
            stack.down(say=lambda _: None)
            print("local stack stopped")
    if profile_text:
        print(profile_text)
    return _report(scenarios, args, out)


def _report(scenarios: list[dict[str, Any]], args: argparse.Namespace, out: Path) -> int:
    header, rows = report.table_rows(scenarios)
    _print_table(header, rows)
    checks = report.targets(scenarios)
    print("Earlier targets (regression checks):")
    for c in checks:
        print(f"  {'MET    ' if c['met'] else 'NOT MET'}  {c['target']} [{c['scenario']}]: "
              f"{c['detail']}")  # fmt: skip
    issue = report.issue_targets(scenarios)
    print("Targets (ratios against polling in this run):")
    print(report.format_checks(issue))
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    document = {
        "created": stamp,
        "poll_freq": args.poll_freq,
        "spread": args.poll_freq if args.spread is None else args.spread,
        "scenarios": scenarios,
        "targets": checks,
        "issue_targets": issue,
    }
    (out / f"bench-{stamp}.json").write_text(json.dumps(document, indent=1, default=str))
    (out / "latest.json").write_text(json.dumps(document, indent=1, default=str))
    (out / "latest.md").write_text(
        report.markdown(header, rows) + "\n\n" + report.checks_markdown(issue) + "\n"
    )
    report.plot(scenarios, str(out / f"bench-{stamp}.png"))
    report.plot(scenarios, str(out / "latest.png"))
    print(f"wrote {out}/bench-{stamp}.json, latest.md and bench-{stamp}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
