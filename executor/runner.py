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
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import traceback
from typing import Any, TextIO

TASK_URI_ENV = "EVENTBATCH_TASK_URI"
# Keeps io.json bounded; the full streams are in the job's CloudWatch log stream.
MAX_STREAM_CHARS = 4 * 1024 * 1024


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


def _split_uri(uri: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise SystemExit(f"{TASK_URI_ENV} must be an s3:// URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key if key.endswith("/") else key + "/"


def run_task(s3: Any, bucket: str, task_dir: str) -> int:
    """Run the task stored under task_dir; return the process exit status."""
    import cloudpickle

    with tempfile.TemporaryDirectory() as work:
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

    uri = os.environ.get(TASK_URI_ENV, "")
    bucket, task_dir = _split_uri(uri)
    # AWS_ENDPOINT_URL is honoured by boto3 itself (local stack); nothing else is configured here.
    return run_task(boto3.client("s3"), bucket, task_dir)


if __name__ == "__main__":
    sys.exit(main())
