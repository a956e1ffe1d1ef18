"""The Batch container's entry point: fetch the task, run it, store what came of it.

Run as ``python -m eventbatch_runner`` inside the runtime image (the image build copies this file
under that name). It needs the standard library, boto3 and cloudpickle, plus the dispatch's
Covalent version to unpickle Covalent's task wrapper. The task's directory in S3 comes from
``EVENTBATCH_TASK_URI`` (``s3://BUCKET/PREFIX/tasks/DISPATCH/NODE/``); AWS endpoints and
credentials come from the environment, as boto3 finds them (the job role on AWS).

On success result.pkl holds {"result", "stdout", "stderr"}; io.json (streams, exception and
traceback) is written in every case, for people and for failures.

Exit status: 0 when the task returned, 1 when it raised, the task's own code when it called
``sys.exit``. The job's retry rules use that to tell the user's failures from the platform's.

Once the outcome is stored, the container announces its electron's completion itself, with the
"Task Finished" event the state machine would send once Batch reports the job ended (its job role
needs ``events:PutEvents``): a single electron's job gets what it announces in
``EVENTBATCH_ANNOUNCE`` (compact JSON: marker, execution ARN, resources, the attempt from which
failures are final); without it (a job of an older executor) it only stores the outcome, and the
state machine announces it. A child of a pack's array job gets ``EVENTBATCH_MANIFEST_URI``
instead: it runs the electron at its ``AWS_BATCH_JOB_ARRAY_INDEX`` in the manifest and announces
it with what the manifest says. Its task is the entry's ``task_range`` of the pack's ``bundle``
(one object holding the pack's small tasks) when the entry has one, else its own task.pkl. What
a container cannot announce (killed, timed out, never started) is announced by the state machine
when the job ends, or, for a pack's child, recorded from Batch's list of children when the array
job ends.
"""

from __future__ import annotations

import io
import json
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any, TextIO

TASK_URI_ENV = "EVENTBATCH_TASK_URI"
# A single electron's announcement: the manifest's fields for it (execution_arn,
# report_failures_on_attempt, resources) and its entry's marker, as JSON (executor/workflow.py).
ANNOUNCE_ENV = "EVENTBATCH_ANNOUNCE"
MANIFEST_URI_ENV = "EVENTBATCH_MANIFEST_URI"
MANIFEST_VERSION = 1
ARRAY_INDEX_ENV = "AWS_BATCH_JOB_ARRAY_INDEX"
# Kept equal to statemachine.definition's (a test checks): the runner ships alone in the image.
EVENT_SOURCE = "covalent.eventbatch"
EVENT_DETAIL_TYPE = "Task Finished"
# The runner's exit status when it cannot find what to run (no entry, no manifest).
EXIT_NO_TASK = 2
# Keeps io.json bounded; the full streams are in the job's CloudWatch log stream.
MAX_STREAM_CHARS = 4 * 1024 * 1024
# An announcement: every PutEvents call bounded (no route to EventBridge must not hang the attempt
# for minutes), failed entries resent with backoff, given up after about 30 s in all (the state
# machine, or the array job's end, records the electron instead).
ANNOUNCE_BUDGET_S = 25.0
EVENTS_CONNECT_TIMEOUT_S = 3
EVENTS_READ_TIMEOUT_S = 5
# Reading the manifest and the pack's bundle of tasks: thousands of children read one key at
# once, and S3 may answer 503 SlowDown; they retry with jittered backoff for about a minute
# before giving up.
MANIFEST_READ_BUDGET_S = 60.0
_FINAL_READ_CODES = {"NoSuchKey", "NoSuchBucket", "AccessDenied", "InvalidRange", "403", "404"}
# ECS's task metadata endpoint (version 4), which ECS sets in Batch containers (Fargate 1.4+, EC2
# agents 1.39+): its container document names the awslogs stream, else missing from the marker.
ECS_METADATA_ENV = "ECS_CONTAINER_METADATA_URI_V4"
ECS_METADATA_TIMEOUT_S = 1.0


class _Tee(io.TextIOBase):
    """Writes to the container's stream (so CloudWatch gets it) and keeps a copy."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.copy = io.StringIO()

    def write(self, text: str) -> int:
        self.stream.write(text)
        if self.copy.tell() < MAX_STREAM_CHARS:
            self.copy.write(text[: MAX_STREAM_CHARS - self.copy.tell()])
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _split_uri(uri: str, variable: str = TASK_URI_ENV) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise SystemExit(f"{variable} must be an s3:// URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key if key.endswith("/") else key + "/"


class NoTaskError(Exception):
    """The child cannot tell which electron it runs; the message names the manifest key."""


def manifest_entry(s3: Any, manifest_uri: str, index_text: str | None) -> tuple[dict, dict]:
    """(manifest, entry) of this array child; NoTaskError says what is missing and where."""
    if not manifest_uri.startswith("s3://"):
        raise NoTaskError(f"{MANIFEST_URI_ENV} must be an s3:// URI, got {manifest_uri!r}")
    bucket, _, key = manifest_uri[len("s3://") :].partition("/")
    if index_text is None or not index_text.strip().isdigit():
        raise NoTaskError(
            f"{ARRAY_INDEX_ENV} is {index_text!r}: this child of an array job cannot tell which "
            f"entry of manifest s3://{bucket}/{key} to run"
        )
    index = int(index_text)
    manifest = read_manifest(s3, bucket, key, index)
    tasks = manifest.get("tasks") or []
    if index >= len(tasks):
        raise NoTaskError(
            f"manifest s3://{bucket}/{key} has no entry for array index {index} "
            f"({len(tasks)} entries)"
        )
    return manifest, tasks[index]


def _error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    error = response.get("Error", {}) if isinstance(response, dict) else {}
    return str(error.get("Code") or "")


def read_manifest(
    s3: Any,
    bucket: str,
    key: str,
    index: int,
    budget_s: float = MANIFEST_READ_BUDGET_S,
    sleep: Callable[[float], None] = time.sleep,
) -> dict:
    """The manifest, read again with backoff on any error but a missing key or a refusal."""
    body = _read_patiently(
        lambda: s3.get_object(Bucket=bucket, Key=key)["Body"].read(),
        f"manifest s3://{bucket}/{key} for array index {index}",
        budget_s,
        sleep,
    )
    return dict(json.loads(body))


def read_bundled_task(
    s3: Any,
    manifest: dict,
    entry: dict,
    budget_s: float = MANIFEST_READ_BUDGET_S,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes | None:
    """This child's pickled task, from the pack's bundle (one ranged GetObject; every child reads
    the same key at once, so with the manifest's backoff); None: the entry's own task.pkl."""
    task_range = entry.get("task_range")
    if not task_range:
        return None
    start, end = int(task_range[0]), int(task_range[1])
    uri = str(manifest.get("bundle") or "")
    if not uri.startswith("s3://"):
        raise NoTaskError(f"the manifest gives a task range but no s3:// bundle ({uri!r})")
    bucket, _, key = uri[len("s3://") :].partition("/")
    what = f"bytes {start}-{end - 1} of bundle {uri} for node {entry.get('node_id')}"
    body = _read_patiently(
        lambda: s3.get_object(Bucket=bucket, Key=key, Range=f"bytes={start}-{end - 1}")[
            "Body"
        ].read(),
        what,
        budget_s,
        sleep,
    )
    if len(body) != end - start:
        raise NoTaskError(f"cannot read {what}: got {len(body)} bytes")
    return bytes(body)


def _read_patiently(
    read: Callable[[], bytes], what: str, budget_s: float, sleep: Callable[[float], None]
) -> bytes:
    """read(), again with backoff on any error but a missing key or a refusal."""
    deadline = time.monotonic() + budget_s
    delay = 0.5
    while True:
        try:
            return read()
        except Exception as exc:  # noqa: BLE001 - throttling, 5xx, a cut read: all worth another try
            final = _error_code(exc) in _FINAL_READ_CODES
            wait = random.uniform(delay / 2, delay)
            if final or time.monotonic() + wait > deadline:
                raise NoTaskError(f"cannot read {what}: {exc}") from None
            sleep(wait)
            delay = min(delay * 2, 8.0)


def announce(
    events: Any,
    event: dict,
    budget_s: float = ANNOUNCE_BUDGET_S,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str | None:
    """Send the event; None once EventBridge took it, else why it could not within the budget.

    PutEvents can succeed with FailedEntryCount > 0 (throttled, internal failure): AWS's
    PutEvents page says to send the failed entries again. Each call and each failed entry is
    retried with full-jitter backoff until the budget is spent.
    """
    deadline = clock() + budget_s
    delay = 0.5
    why = ""
    while True:
        try:
            response = events.put_events(Entries=[event])
        except Exception as exc:  # noqa: BLE001 - no route, timeouts, throttling: all retried
            why = f"{type(exc).__name__}: {exc}"
        else:
            if not response.get("FailedEntryCount"):
                return None
            failures = [e for e in response.get("Entries") or [] if e.get("ErrorCode")]
            why = "; ".join(f"{e['ErrorCode']}: {e.get('ErrorMessage', '')}" for e in failures)
            why = why or "FailedEntryCount 1"
        wait = random.uniform(0, delay)
        if clock() + wait >= deadline:
            return why
        sleep(wait)
        delay = min(delay * 2, 8.0)


def events_client() -> Any:
    """An EventBridge client whose calls are bounded; announce() does the retrying."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "events",
        config=Config(
            connect_timeout=EVENTS_CONNECT_TIMEOUT_S,
            read_timeout=EVENTS_READ_TIMEOUT_S,
            retries={"mode": "standard", "total_max_attempts": 1},
        ),
    )


def log_stream(timeout_s: float = ECS_METADATA_TIMEOUT_S) -> str | None:
    """This container's awslogs stream, from ECS's task metadata endpoint; None when unknown."""
    url = os.environ.get(ECS_METADATA_ENV)
    if not url:
        return None
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            options = json.loads(response.read()).get("LogOptions") or {}
    except Exception:  # noqa: BLE001 - the stream is a pointer for people, never worth failing on
        return None
    stream = options.get("awslogs-stream") if isinstance(options, dict) else None
    return stream if isinstance(stream, str) and stream else None


def finished_event(
    manifest: dict,
    entry: dict,
    exit_status: int,
    started_ms: int,
    stopped_ms: int,
    stream: str | None = None,
) -> dict:
    """The "Task Finished" entry for this electron, as the state machine sends it.

    ``manifest`` gives the execution ARN and the requested resources and ``entry`` the marker:
    a pack's manifest and the child's entry, or a single electron's announcement as both.
    """
    attempt = int(os.environ.get("AWS_BATCH_JOB_ATTEMPT") or 1)
    status = "SUCCEEDED" if exit_status == 0 else "FAILED"
    container: dict[str, Any] = {"ExitCode": exit_status}
    if stream:
        container["LogStreamName"] = stream
    job: dict[str, Any] = {
        "JobId": os.environ.get("AWS_BATCH_JOB_ID"),
        "Status": status,
        # Only this attempt is known from inside; earlier ones count but say nothing.
        "Attempts": [{}] * (attempt - 1)
        + [
            {
                "StartedAt": started_ms,
                "StoppedAt": stopped_ms,
                "Container": container,
            }
        ],
        # The resources the job requested, for the marker's resource-seconds.
        "Container": {"ResourceRequirements": manifest.get("resources") or []},
    }
    detail: dict[str, Any] = {
        "Marker": entry["marker"],
        "ExecutionArn": manifest.get("execution_arn"),
        "Status": status,
    }
    if status == "SUCCEEDED":
        detail["Job"] = job
    else:
        detail["Error"] = "Task.ExitStatus"
        detail["Cause"] = json.dumps(job)
    return {
        "Source": EVENT_SOURCE,
        "DetailType": EVENT_DETAIL_TYPE,
        "Detail": json.dumps(detail),
    }


def should_report(manifest: dict, exit_status: int) -> bool:
    """A failure Batch may still retry is left to its last attempt (or to the job's end)."""
    if exit_status == 0:
        return True
    attempt = int(os.environ.get("AWS_BATCH_JOB_ATTEMPT") or 1)
    return attempt >= int(manifest.get("report_failures_on_attempt") or 1)


def run_array_child(s3: Any, events: Any, manifest_uri: str, index_text: str | None) -> int:
    try:
        manifest, entry = manifest_entry(s3, manifest_uri, index_text)
        task = read_bundled_task(s3, manifest, entry)
    except NoTaskError as exc:
        sys.stderr.write(f"eventbatch runner: {exc}\n")
        return EXIT_NO_TASK
    bucket, task_dir = _split_uri(entry["task_uri"], MANIFEST_URI_ENV)
    return run_and_announce(
        s3,
        events,
        bucket,
        task_dir,
        manifest,
        entry,
        f"node {entry.get('node_id')}",
        "it is recorded when the array job ends",
        task,
    )


def run_single(s3: Any, events: Any, task_uri: str, announcement_text: str | None) -> int:
    """A single electron's job: run it, then announce it when the job says how."""
    bucket, task_dir = _split_uri(task_uri)
    announcement = _announcement(announcement_text)
    if announcement is None:
        return run_task(s3, bucket, task_dir)
    return run_and_announce(
        s3,
        events,
        bucket,
        task_dir,
        announcement,
        announcement,
        f"task {task_uri}",
        "the state machine announces it when the job ends",
    )


def _announcement(text: str | None) -> dict | None:
    """The single electron's announcement, or None (absent or unreadable: not announced)."""
    if not text:
        return None
    try:
        announcement = json.loads(text)
    except ValueError:
        announcement = None
    if not (
        isinstance(announcement, dict)
        and isinstance(announcement.get("marker"), dict)
        and isinstance(announcement.get("execution_arn"), str)
    ):
        sys.stderr.write(
            f"eventbatch runner: {ANNOUNCE_ENV} is not an announcement ({text[:200]!r}); the "
            "state machine announces this task when the job ends\n"
        )
        return None
    return announcement


def run_and_announce(
    s3: Any,
    events: Any,
    bucket: str,
    task_dir: str,
    manifest: dict,
    entry: dict,
    what: str,
    otherwise: str,
    task: bytes | None = None,
) -> int:
    """Run the task, then announce its outcome (see finished_event for manifest and entry)."""
    started_ms = int(time.time() * 1000)
    exit_status = run_task(s3, bucket, task_dir, task)
    stopped_ms = int(time.time() * 1000)
    if should_report(manifest, exit_status):
        event = finished_event(
            manifest, entry, exit_status, started_ms, stopped_ms, stream=log_stream()
        )
        why = announce(events, event)
        if why is not None:
            sys.stderr.write(f"eventbatch runner: could not announce {what} ({why}); {otherwise}\n")
    return exit_status


def run_task(s3: Any, bucket: str, task_dir: str, task: bytes | None = None) -> int:
    """Run the task (the pickle given, else task_dir's task.pkl), storing its outcome under
    task_dir; return the process exit status."""
    import cloudpickle

    with tempfile.TemporaryDirectory() as work:
        if task is not None:
            function, args, kwargs = cloudpickle.loads(task)
        else:
            task_file = os.path.join(work, "task.pkl")
            s3.download_file(bucket, task_dir + "task.pkl", task_file)
            with open(task_file, "rb") as f:
                function, args, kwargs = cloudpickle.load(f)
            os.remove(task_file)

        out, err = _Tee(sys.stdout), _Tee(sys.stderr)
        exception: dict[str, str] | None = None
        exit_status = 0
        result: Any = None
        sys.stdout, sys.stderr = out, err
        try:
            result = function(*args, **kwargs)
        except SystemExit as exc:
            code = exc.code
            exit_status = code if isinstance(code, int) else (0 if code is None else 1)
            if exit_status:
                exception = _describe(exc)
        except BaseException as exc:  # noqa: BLE001 - everything the task raises is reported
            exception = _describe(exc)
            exit_status = 1
        finally:
            sys.stdout, sys.stderr = out.stream, err.stream

        if exception is None and exit_status == 0:
            result_file = os.path.join(work, "result.pkl")
            with open(result_file, "wb") as f:
                # The streams travel with the result: on success one download brings both.
                cloudpickle.dump(
                    {
                        "result": result,
                        "stdout": out.copy.getvalue(),
                        "stderr": err.copy.getvalue(),
                    },
                    f,
                )
            del result
            s3.upload_file(result_file, bucket, task_dir + "result.pkl")

        report = {
            "stdout": out.copy.getvalue(),
            "stderr": err.copy.getvalue(),
            "exception": exception,
            "exit_status": exit_status,
        }
        s3.put_object(
            Bucket=bucket,
            Key=task_dir + "io.json",
            Body=json.dumps(report).encode(),
            ContentType="application/json",
        )
        if exception:
            sys.stderr.write(exception["traceback"])
        return exit_status


def _describe(exc: BaseException) -> dict[str, str]:
    return {
        "type": type(exc).__qualname__,
        "module": type(exc).__module__,
        "message": str(exc),
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }


def main() -> int:
    import boto3

    manifest_uri = os.environ.get(MANIFEST_URI_ENV)
    if manifest_uri:
        return run_array_child(
            boto3.client("s3"),
            events_client(),
            manifest_uri,
            os.environ.get(ARRAY_INDEX_ENV),
        )
    announcement = os.environ.get(ANNOUNCE_ENV)
    # AWS_ENDPOINT_URL is honoured by boto3 itself (local stack); nothing else is configured here.
    return run_single(
        boto3.client("s3"),
        events_client() if announcement else None,
        os.environ.get(TASK_URI_ENV, ""),
        announcement,
    )


if __name__ == "__main__":
    sys.exit(main())
