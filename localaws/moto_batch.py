"""Two patches that bring moto's Batch jobs closer to AWS's (local stack only, moto 5.2.5).

* **Requested resources.** AWS's DescribeJobs reports a job's container with the submitted
  ``containerOverrides.resourceRequirements`` applied; moto reports only the job definition's
  ``vcpus``/``memory`` and no ``resourceRequirements``. The job's record then names what the
  task asked for, which is what its usage (chalice_app/usage.py) is computed from.
* **Live container logs.** On AWS the awslogs driver ships a container's output to CloudWatch
  Logs while it runs, and the job names its log stream once it is RUNNING. moto copies the
  output once, after the container exits. Here a thread per job forwards new lines every
  second while the container runs, under the stream name moto uses; moto's own copy at the end
  then skips the lines already sent.

Applied only to the moto version they were written against, like moto_compat.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

PATCHED_MOTO_VERSION = "5.2.5"
_POLL_S = 1.0  # live enough to follow, and light with many jobs running at once
_applied = False


def merged_requirements(job: Any) -> list[dict[str, str]]:
    definition = (job.job_definition.container_properties or {}).get("resourceRequirements") or []
    merged = {str(r["type"]).upper(): str(r["value"]) for r in definition}
    for requirement in job.container_overrides.get("resourceRequirements") or []:
        merged[str(requirement["type"]).upper()] = str(requirement["value"])
    return [{"type": kind, "value": value} for kind, value in merged.items()]


class LogForwarder(threading.Thread):
    """Copies a running job container's new output lines to its CloudWatch log stream."""

    def __init__(self, job: Any) -> None:
        super().__init__(name=f"live-logs-{job.job_id}", daemon=True)
        self.job = job
        self.backend = job._log_backend  # moto's own, before _run wraps it
        self.sent: set[tuple[float, str]] = set()
        self._lock = threading.Lock()

    def _container(self) -> Any:
        import docker

        name = f"{self.job.job_name}-{self.job.job_id.replace(':', '-')}"
        try:
            return self.job.docker_client.containers.get(name)
        except docker.errors.NotFound:
            return None

    def _forward(self, container: Any) -> None:
        from moto.core.parse import default_timestamp_parser
        from moto.core.utils import unix_time_millis

        raw = container.logs(stdout=True, stderr=True, timestamps=True).decode(errors="replace")
        events = []
        for line in raw.split("\n"):
            if not line:
                continue
            stamp, _, message = line.partition(" ")
            # The same timestamp and text moto computes for its own copy, so that it can skip it.
            key = (unix_time_millis(default_timestamp_parser(stamp)), message.strip())
            with self._lock:
                if key in self.sent:
                    continue
                self.sent.add(key)
            events.append({"timestamp": key[0], "message": key[1]})
        if events:
            backend, group, stream = (
                self.backend,
                self.job._log_group,
                self.job._stream_name,
            )
            backend.ensure_log_group(group)
            backend.ensure_log_stream(group, stream)
            backend.put_log_events(group, stream, events)

    def run(self) -> None:
        # One forwarder per attempt (moto_retries runs each attempt through Job.run).
        while not (self.job.job_stopped or getattr(self.job, "_attempt_closed", False)):
            container = self._container() if self.job.status == "RUNNING" else None
            if container is not None:
                # AWS names the stream once the job runs.
                self.job.log_stream_name = self.job._stream_name
                # The container may go between two looks; moto's own copy at the end has the rest.
                with contextlib.suppress(Exception):
                    self._forward(container)
            time.sleep(_POLL_S)

    def unsent(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in events if (e["timestamp"], e["message"]) not in self.sent]


class SkipForwarded:
    """The job's logs backend, minus the lines the forwarder already put."""

    def __init__(self, backend: Any, forwarder: LogForwarder) -> None:
        self._backend = backend
        self._forwarder = forwarder

    def put_log_events(self, group: str, stream: str, events: list[dict[str, Any]]) -> Any:
        remaining = self._forwarder.unsent(events)
        if remaining:
            return self._backend.put_log_events(group, stream, remaining)
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)


def apply() -> bool:
    """Patch moto's Batch Job; False when moto is not the known version."""
    global _applied
    import moto
    from moto.batch.models import Job

    if moto.__version__ != PATCHED_MOTO_VERSION:
        return False
    if _applied:
        return True
    container_details = Job._container_details
    run = Job.run

    def _container_details(self: Any) -> dict[str, Any]:
        details = container_details(self)
        requirements = merged_requirements(self)
        if requirements:
            details["resourceRequirements"] = requirements
        return details

    def _run(self: Any) -> None:
        backend = self._log_backend
        forwarder = LogForwarder(self)
        self._log_backend = SkipForwarded(backend, forwarder)
        forwarder.start()
        try:
            run(self)
        finally:
            forwarder.join(timeout=5)
            self._log_backend = backend

    Job._container_details = _container_details  # type: ignore[method-assign]
    Job.run = _run  # type: ignore[method-assign]
    _applied = True
    return True
