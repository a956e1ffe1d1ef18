"""The status of a dispatch on a terminal (a rich table) or as JSON for scripts."""

from __future__ import annotations

import datetime
import json
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from .rows import DispatchStatus, ElectronRow

_STYLES = {
    "succeeded": "green",
    "failed": "red",
    "stopped": "yellow",
    "timed out": "red",
    "running": "cyan",
}


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 60:
        return f"{value:.1f}s"
    minutes, seconds = divmod(int(round(value)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def _number(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"~${value:.4f}"


def _outcome(row: ElectronRow) -> str:
    parts = []
    if row.exit_code is not None:
        parts.append(f"exit {row.exit_code}")
    if row.reason:
        parts.append(row.reason if len(row.reason) <= 60 else row.reason[:57] + "...")
    return "; ".join(parts)


def table(status: DispatchStatus) -> Group:
    """The dispatch's electrons, their totals, and what the estimates are."""
    taken = datetime.datetime.fromtimestamp(status.taken_at_ms / 1000, datetime.timezone.utc)
    grid = Table(
        title=f"dispatch {status.dispatch_id}  ({status.total['ended']}/"
        f"{status.total['electrons']} ended, {taken:%H:%M:%S} UTC)",
        title_justify="left",
    )
    for column, justify in (
        ("node", "right"),
        ("electron", "left"),
        ("stage", "left"),
        ("queued", "right"),
        ("running", "right"),
        ("tries", "right"),
        ("vCPU-s", "right"),
        ("GiB-s", "right"),
        ("GPU-s", "right"),
        ("est. USD", "right"),
        ("exit / reason", "left"),
    ):
        grid.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in status.electrons:
        usage = row.usage or {}
        grid.add_row(
            str(row.node_id),
            row.name or "",
            Text(row.stage, style=_STYLES.get(row.stage, "")),
            _seconds(row.queued_seconds),
            _seconds(row.running_seconds),
            "-" if row.attempts is None else str(row.attempts),
            _number(usage.get("vcpu_seconds")),
            _number(usage.get("gib_seconds")),
            _number(usage.get("gpu_seconds")),
            _usd(row.estimated_cost_usd),
            _outcome(row),
        )
    total = status.total
    grid.add_section()
    grid.add_row(
        "",
        "total",
        "",
        "",
        "",
        str(total["attempts"]),
        _number(total["vcpu_seconds"]),
        _number(total["gib_seconds"]),
        _number(total["gpu_seconds"]),
        _usd(total["estimated_cost_usd"]),
        "",
    )
    notes = [
        Text(f"node {row.node_id}: attempt {i} {ending}")
        for row in status.electrons
        if len(row.attempt_endings) > 1 or (row.attempts or 0) > len(row.attempt_endings) > 0
        for i, ending in enumerate(row.attempt_endings, start=1)
    ]
    notes += [Text(f"estimates: {status.estimates}; {status.prices}", style="dim")]
    return Group(grid, *notes)


def links(status: DispatchStatus) -> list[str]:
    """Where to look in the AWS console, one line per link (printed unwrapped)."""
    return [
        f"node {row.node_id} {kind}: {url}"
        for row in status.electrons
        for kind, url in row.links.items()
    ]


def as_json(status: DispatchStatus) -> str:
    data: dict[str, Any] = status.to_json()
    data["all_ended"] = status.all_ended
    return json.dumps(data, indent=2, sort_keys=True)
