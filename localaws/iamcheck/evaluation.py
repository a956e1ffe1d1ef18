"""Evaluate an authorization against policy documents as IAM does: an explicit Deny wins;
actions match case-insensitively, resources case-sensitively, with ``*`` and ``?`` wildcards."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Need:
    """One authorization a call needs."""

    action: str
    resource: str


@functools.lru_cache(maxsize=1024)
def pattern(text: str, case_sensitive: bool) -> re.Pattern[str]:
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text)
    return re.compile(f"^{body}$", 0 if case_sensitive else re.IGNORECASE)


def listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def _matches(patterns: Iterable[str], value: str, case_sensitive: bool) -> bool:
    return any(pattern(p, case_sensitive).match(value) for p in patterns)


def statement_applies(statement: dict[str, Any], need: Need) -> bool:
    if "Condition" in statement:
        # The project's policies have none; a condition would need evaluating, not ignoring.
        raise ValueError(f"statement with a Condition is not supported: {statement}")
    if "Action" in statement:
        action_ok = _matches(listed(statement["Action"]), need.action, False)
    else:
        action_ok = not _matches(listed(statement["NotAction"]), need.action, False)
    if "Resource" in statement:
        resource_ok = _matches(listed(statement["Resource"]), need.resource, True)
    else:
        resource_ok = not _matches(listed(statement["NotResource"]), need.resource, True)
    return action_ok and resource_ok


def evaluate(policies: list[dict[str, Any]], need: Need) -> str | None:
    """The statement allowing need (Sid, else 'POLICY#INDEX'), or None when denied."""
    allowed: str | None = None
    for document in policies:
        statements = document["Statement"]
        statements = [statements] if isinstance(statements, dict) else statements
        for index, statement in enumerate(statements):
            if not statement_applies(statement, need):
                continue
            if statement["Effect"] == "Deny":
                return None
            allowed = allowed or statement.get("Sid") or f"{document.get('_name', '')}#{index}"
    return allowed
