"""The check: recorded calls judged against their callers' policies, and what the report says
(refusals, unmapped calls, statements no call needed)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .actions import needs
from .evaluation import Need, evaluate, listed, pattern


@dataclass
class Verdict:
    call: dict[str, Any]
    need: Need
    statement: str | None  # the Sid (or index) that allowed it; None when nothing did
    excused: str = ""  # why a refusal is expected (a test aimed at a resource not the stack's)
    note: str = ""  # why an allowed call still counts as refused


@dataclass
class Report:
    verdicts: list[Verdict] = field(default_factory=list)
    unmapped: list[dict[str, Any]] = field(default_factory=list)

    @property
    def denied(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.statement is None and not v.excused]

    @property
    def excused(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.statement is None and v.excused]

    def used(self) -> dict[tuple[str, str], set[str]]:
        """(principal, statement) -> the actions calls needed from it."""
        out: dict[tuple[str, str], set[str]] = {}
        for v in self.verdicts:
            if v.statement is not None:
                key = (v.call["principal"], v.statement)
                out.setdefault(key, set()).add(v.need.action)
        return out


def read_calls(path: str) -> Iterator[dict[str, Any]]:
    with open(path) as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def check(
    calls: Iterable[dict[str, Any]],
    policies: dict[str, list[dict[str, Any]]],
    excused: dict[str, str] | None = None,
    reserved: dict[str, str] | None = None,
) -> Report:
    """Evaluate the calls of the principals in policies (principal ARN -> its documents).

    excused: resource name -> why; a refused need whose resource contains the name is listed
    apart (tests point components at missing or foreign resources on purpose).
    reserved: statement Sid -> the User-Agent token of the only tool it is for (the optional
    DoctorChecks statement: the doctor's); the component itself needing it is a refusal.
    """
    excused, reserved = excused or {}, reserved or {}
    report = Report()
    seen: set[str] = set()
    for call in calls:
        principal = call.get("principal", "")
        if principal not in policies:
            continue
        # Identical calls are judged once: the suite repeats many.
        fingerprint = json.dumps(call, sort_keys=True, default=str)
        if fingerprint in seen:
            continue
        seen.add(fingerprint)
        found = needs(call)
        if found is None:
            report.unmapped.append(call)
            continue
        for need in found:
            allowed = evaluate(policies[principal], need)
            note = ""
            tool = reserved.get(allowed or "")
            if tool and tool not in call.get("user_agent", ""):
                allowed, note = None, f"statement {allowed} is only for {tool}"
            why = "" if allowed else next((w for n, w in excused.items() if n in need.resource), "")
            report.verdicts.append(Verdict(call, need, allowed, why, note))
    return report


def describe(report: Report, limit: int = 40) -> str:
    lines: list[str] = []
    denied: dict[tuple[str, str, str], Verdict] = {}
    for v in report.denied:
        denied.setdefault((v.call["principal"], v.need.action, v.need.resource), v)
    for (principal, action, resource), v in list(denied.items())[:limit]:
        note = f"; {v.note}" if v.note else ""
        lines.append(
            f"NOT GRANTED {action} on {resource} to {principal} "
            f"(call {v.call.get('service')}:{v.call.get('operation')}{note})"
        )
    for call in report.unmapped[:limit]:
        lines.append(
            f"UNMAPPED {call.get('service')}:{call.get('operation')} by {call.get('principal')}"
            " (teach localaws/iamcheck/actions.py its IAM action and resource)"
        )
    return "\n".join(lines)


def unused(report: Report, policies: dict[str, list[dict[str, Any]]]) -> list[str]:
    """'principal: Sid action' for each statement action no checked call needed."""
    used = report.used()
    lines = []
    for principal, documents in policies.items():
        for document in documents:
            statements = document["Statement"]
            statements = [statements] if isinstance(statements, dict) else statements
            for index, statement in enumerate(statements):
                if statement.get("Effect") != "Allow" or "Action" not in statement:
                    continue
                sid = statement.get("Sid") or f"{document.get('_name', '')}#{index}"
                needed = used.get((principal, sid), set())
                for action in listed(statement["Action"]):
                    if not any(pattern(action, False).match(n) for n in needed):
                        lines.append(f"{principal}: {sid} {action}")
    return lines
