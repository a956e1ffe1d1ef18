"""The local stack's Batch patches, in their narrow parts (the end-to-end tests use them whole:
tests/e2e/test_dispatch_view.py follows a job's log while it runs and reads its resources)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from covalent_eventbatch.localaws.moto_batch import (
    LogForwarder,
    SkipForwarded,
    merged_requirements,
)


def test_the_jobs_overrides_win_over_its_definition_by_type() -> None:
    job = SimpleNamespace(
        job_definition=SimpleNamespace(
            container_properties={
                "resourceRequirements": [
                    {"type": "VCPU", "value": "1"},
                    {"type": "MEMORY", "value": "2048"},
                ]
            }
        ),
        container_overrides={"resourceRequirements": [{"type": "MEMORY", "value": "1536"}]},
    )
    assert merged_requirements(job) == [
        {"type": "VCPU", "value": "1"},
        {"type": "MEMORY", "value": "1536"},
    ]


def test_motos_final_copy_skips_the_lines_already_forwarded() -> None:
    put: list[Any] = []
    backend = SimpleNamespace(put_log_events=lambda g, s, events: put.append(events))
    job = SimpleNamespace(job_id="j", _log_backend=backend)
    forwarder = LogForwarder(job)
    forwarder.sent = {(1000.5, "first")}
    wrapped = SkipForwarded(backend, forwarder)
    wrapped.put_log_events(
        "g", "s", [{"timestamp": 1000.5, "message": "first"}, {"timestamp": 2000.0, "message": "x"}]
    )
    assert put == [[{"timestamp": 2000.0, "message": "x"}]]
    wrapped.put_log_events("g", "s", [{"timestamp": 1000.5, "message": "first"}])
    assert len(put) == 1  # nothing left to put
