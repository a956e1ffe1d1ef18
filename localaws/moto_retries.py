"""Batch retries as AWS has them, on the local stack (moto 5.2.5 only, like moto_compat).

moto 5.2.5 stores a job definition's RetryStrategy, drops SubmitJob's, and runs every job once.
On AWS (https://docs.aws.amazon.com/batch/latest/userguide/job_retries.html and the
RetryStrategy / EvaluateOnExit API pages):

* a job gets ``attempts`` (1-10) attempts; SubmitJob's RetryStrategy overrides the definition's;
* after a failed attempt, the first ``evaluateOnExit`` rule whose given fields all match decides
  (``onStatusReason``, ``onReason``, ``onExitCode``: globs where ``*`` may only end the pattern);
  ``RETRY`` retries while attempts remain, ``EXIT`` ends the job; with no matching rule the job
  is retried while attempts remain;
* a job that was terminated (TerminateJob) or ran past ``attemptDurationSeconds`` is not retried;
* each attempt runs with ``AWS_BATCH_JOB_ATTEMPT`` (1-based), writes its own log stream and adds
  one entry to ``attempts[]`` (its container's exit code, reason and log stream, its status
  reason); between attempts the job is RUNNABLE again;
* a child of an array job retries alone; the parent ends when every child has ended.

A reclaimed host: on AWS, when a Spot host is taken back, the attempt ends with the status reason
"Host EC2 (instance i-...) terminated." and no exit code. The local stack has no hosts; its hook
is TerminateJob with a reason of exactly that form (what ``eventbatch local reclaim JOB_ID``
sends): the running attempt ends as a reclaimed one, and the retry rules decide, as on AWS.

The patch wraps Job.run (whatever moto_batch made of it: one call per attempt) and
Job._mark_stopped (where an attempt's end becomes the job's end unless a rule retries it).
"""

from __future__ import annotations

import re
import threading
import uuid
from typing import Any

PATCHED_MOTO_VERSION = "5.2.5"
ATTEMPT_ENV = "AWS_BATCH_JOB_ATTEMPT"
# AWS's status reasons (as Batch reports them in attempts[] and on the job).
EXITED_REASON = "Essential container in task exited"
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
RECLAIM_REASON = re.compile(r"^Host EC2 \(instance i-[0-9a-f]+\) terminated\.$")
_submitted = threading.local()  # the RetryStrategy of the SubmitJob being served, per thread
_applied = False


def reclaim_reason(instance_id: str) -> str:
    """The status reason AWS gives an attempt whose Spot host was taken back."""
    return f"Host EC2 (instance {instance_id}) terminated."


def glob_matches(pattern: str, value: str | None) -> bool:
    """AWS's evaluateOnExit match: exact, or a prefix when the pattern ends with ``*``.

    A field the attempt does not have (no exit code, no reason) is matched as the empty string:
    only ``*`` matches it, as AWS's own example rule ``{"onReason": "*", "action": "EXIT"}``
    ("exit for every other reason") needs.
    """
    text = "" if value is None else str(value)
    if pattern.endswith("*"):
        return text.startswith(pattern[:-1])
    return text == pattern


def _field(rule: dict[str, Any], name: str) -> Any:
    # Rules arrive camelCase from the API, PascalCase from CloudFormation's lowercase-first keys.
    return rule.get(name, rule.get(name[0].upper() + name[1:]))


def decide(strategy: dict[str, Any] | None, attempt: dict[str, Any], number: int) -> bool:
    """True when the failed attempt ``number`` (1-based) is to be retried."""
    strategy = strategy or {}
    attempts = int(_field(strategy, "attempts") or 1)
    if number >= attempts:
        return False
    outcome = {
        "onStatusReason": attempt.get("statusReason"),
        "onReason": (attempt.get("container") or {}).get("reason"),
        "onExitCode": (attempt.get("container") or {}).get("exitCode"),
    }
    for rule in _field(strategy, "evaluateOnExit") or []:
        given = {k: _field(rule, k) for k in outcome if _field(rule, k) is not None}
        if given and all(glob_matches(p, outcome[k]) for k, p in given.items()):
            return str(_field(rule, "action")).upper() == "RETRY"
    return True


def _attempt_outcome(job: Any) -> dict[str, Any]:
    """What the attempt that just ended reports: status reason, reason, exit code."""
    reclaimed = getattr(job, "_reclaimed", None)
    if reclaimed:
        return {"statusReason": reclaimed, "exitCode": None, "reason": None}
    if getattr(job, "_timed_out", False):
        return {"statusReason": TIMEOUT_REASON, "exitCode": None, "reason": None}
    if job.stop:  # TerminateJob
        return {"statusReason": job.job_stopped_reason, "exitCode": None, "reason": None}
    if job.exit_code is None:
        pulled = _pull_failure(job)
        if pulled:
            return {"statusReason": pulled, "exitCode": None, "reason": pulled}
    return {"statusReason": EXITED_REASON, "exitCode": job.exit_code, "reason": None}


def _pull_failure(job: Any) -> str | None:
    """AWS's reason when the attempt's image could not be pulled; moto only logs the error."""
    image = (job.job_definition.container_properties or {}).get("image")
    if not image:
        return None
    try:
        import docker

        job.docker_client.images.get(image)
    except docker.errors.ImageNotFound:
        return f"CannotPullContainerError: failed to resolve ref {image}: not found"
    except Exception:  # noqa: BLE001 - no Docker to ask: nothing more is known
        return None
    return None


def _ran_past_its_limit(job: Any) -> bool:
    """moto ends an attempt past attemptDurationSeconds by raising inside its run loop, before
    it reads an exit code; this tells that end from the others. Both count from job_started_at,
    which moto_capacity sets when the attempt gets its slot and starts RUNNING."""
    from datetime import datetime, timedelta

    duration = job._get_attempt_duration()
    return bool(
        duration
        and not job.stop
        and job.exit_code is None
        and datetime.now() >= job.job_started_at + timedelta(seconds=duration)
    )


def apply() -> bool:
    """Patch moto's Batch jobs to retry; False when moto is not the known version.

    Apply after moto_batch, so that each attempt gets its own live log forwarding.
    """
    global _applied
    import moto
    from moto.batch import models, responses
    from moto.batch.utils import JobStatus

    if moto.__version__ != PATCHED_MOTO_VERSION:
        return False
    if _applied:
        return True
    submitjob = responses.BatchResponse.submitjob
    job_init = models.Job.__init__
    run = models.Job.run
    mark_stopped = models.Job._mark_stopped
    get_container_property = models.Job._get_container_property
    terminate = models.Job.terminate

    def _submitjob(self: Any) -> str:
        _submitted.strategy = self._get_param("retryStrategy")
        try:
            return submitjob(self)
        finally:
            _submitted.strategy = None

    def _init(self: Any, *args: Any, **kwargs: Any) -> None:
        job_init(self, *args, **kwargs)
        given = getattr(_submitted, "strategy", None)
        self.retry_strategy = given or self.job_definition.retry_strategy or {}
        self._attempt_number = 1
        self._attempt_closed = False
        self._reclaimed = None
        self._timed_out = False

    def _run(self: Any) -> None:
        if self.job_definition.type != "container":
            return run(self)
        while True:
            run(self)
            if self.job_stopped or not self._attempt_closed:
                return  # ended, or never started an attempt (a failed dependency)
            # The attempt ended and a rule retries it: back to RUNNABLE, a new attempt.
            self._attempt_number += 1
            self._attempt_closed = False
            self._reclaimed = None
            self._timed_out = False
            self.stop = False
            self.exit_code = None
            self.log_stream_name = None
            # Each attempt has its own log stream on AWS (its ECS task's id at the end).
            self._stream_name = f"{self.job_definition.name}/default/{uuid.uuid4().hex}"

    def _mark(self: Any, success: bool = True) -> None:
        if self.job_stopped or self._attempt_closed:
            return
        self._attempt_closed = True
        self._timed_out = _ran_past_its_limit(self)
        outcome = _attempt_outcome(self)
        if outcome["exitCode"] is None:
            self.exit_code = None  # AWS reports no exit code for a killed or reclaimed attempt
        attempt = self.latest_attempt
        if attempt is not None:
            container = attempt.setdefault("container", {})
            container["logStreamName"] = self.log_stream_name
            if outcome["exitCode"] is not None:
                container["exitCode"] = outcome["exitCode"]
            if outcome["reason"]:
                container["reason"] = outcome["reason"]
            attempt["statusReason"] = outcome["statusReason"]
        retry = (
            not success
            and attempt is not None
            and not self._timed_out
            and (not self.stop or self._reclaimed is not None)
            and decide(self.retry_strategy, attempt, self._attempt_number)
        )
        if retry:
            from datetime import datetime

            from moto.core.utils import unix_time_millis

            attempt["stoppedAt"] = int(unix_time_millis(datetime.now()))
            self.status = JobStatus.RUNNABLE.value
            return
        if not success and self.job_stopped_reason is None:
            self.job_stopped_reason = outcome["statusReason"]
        mark_stopped(self, success)

    def _environment(self: Any, p: str, default: Any) -> Any:
        value = get_container_property(self, p, default)
        if p == "environment":
            value = [e for e in value if e["name"] != ATTEMPT_ENV]
            value.append({"name": ATTEMPT_ENV, "value": str(self._attempt_number)})
        return value

    def _terminate(self: Any, reason: str) -> None:
        if RECLAIM_REASON.match(reason or "") and not self.job_stopped and not self.stop:
            self._reclaimed = reason
            self.stop = True  # moto's run loop kills the container and ends the attempt
            return
        terminate(self, reason)

    responses.BatchResponse.submitjob = _submitjob  # type: ignore[method-assign]
    models.Job.__init__ = _init  # type: ignore[method-assign]
    models.Job.run = _run  # type: ignore[method-assign]
    models.Job._mark_stopped = _mark  # type: ignore[method-assign]
    models.Job._get_container_property = _environment  # type: ignore[method-assign]
    models.Job.terminate = _terminate  # type: ignore[method-assign]
    _applied = True
    return True
