"""Task payloads in S3: the pickled task up (or a pack's small tasks as one object), the result
and the task's streams down.

Payloads go through a file in ``cache_dir`` and S3's managed (multipart, parallel) transfer, so a
payload of hundreds of MB is never held twice in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from typing import Any

import cloudpickle
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from .aws import AwsClients
from .awserrors import error_code, is_denied, is_missing
from .errors import AwsSetupError, TaskSerializationError

# Multipart in 16 MiB parts, 4 at a time: fast, and about 64 MiB of buffers at most.
_TRANSFER = TransferConfig(
    multipart_threshold=32 * 1024 * 1024, multipart_chunksize=16 * 1024 * 1024, max_concurrency=4
)


_CHUNK = 1024 * 1024


def check_bucket(clients: AwsClients, bucket: str) -> None:
    """Fail early, naming the setting, when the bucket is missing or in another region."""
    s3 = clients.client("s3")
    try:
        location = s3.get_bucket_location(Bucket=bucket).get("LocationConstraint") or "us-east-1"
    except ClientError as exc:
        code = error_code(exc)
        if is_missing(exc):
            raise AwsSetupError(
                f"S3 bucket '{bucket}' does not exist ({code}). Create it or set 's3_bucket_name'."
            ) from None
        if is_denied(exc):
            raise AwsSetupError(
                f"Access to S3 bucket '{bucket}' is denied ({code}). Grant the executor's "
                "credentials s3:GetBucketLocation, s3:PutObject, s3:GetObject and s3:ListBucket."
            ) from None
        raise
    if location == "EU":
        location = "eu-west-1"
    if location != clients.region:
        raise AwsSetupError(
            f"S3 bucket '{bucket}' is in {location} but the executor runs in {clients.region}. "
            f"Set 'region' to {location}, or use a bucket in {clients.region}."
        )


# A pickled task up to this size may travel in its pack's bundle (one object for the pack's
# tasks), so it is held in memory until the pack starts; a larger one is uploaded on its own.
BUNDLED_TASK_MAX_BYTES = 1024 * 1024


class PickledTask:
    """A task pickled once: in memory while it is small enough for a pack's bundle, else in a file
    in cache_dir (a payload of hundreds of MB is never held in memory)."""

    def __init__(self, task: tuple[Any, Any, Any], cache_dir: str) -> None:
        os.makedirs(cache_dir, exist_ok=True)
        # Open for the task's life in run() (closed by close()): no context manager fits.
        self._file = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=BUNDLED_TASK_MAX_BYTES, dir=cache_dir, suffix=".pkl"
        )
        try:
            cloudpickle.dump(task, self._file)
        except Exception as exc:
            self._file.close()
            raise TaskSerializationError(
                f"The task cannot be pickled for AWS Batch: {type(exc).__name__}: {exc}. "
                "Arguments and closures must be picklable (no open files, sockets, locks or "
                "clients); create such objects inside the electron instead."
            ) from None
        self.size = self._file.tell()

    @property
    def small(self) -> bool:
        """Small enough to travel in a pack's bundle."""
        return self.size <= BUNDLED_TASK_MAX_BYTES

    def data(self) -> bytes:
        self._file.seek(0)
        return self._file.read()

    def upload(self, clients: AwsClients, bucket: str, key: str) -> None:
        self._file.seek(0)
        clients.client("s3").upload_fileobj(self._file, bucket, key, Config=_TRANSFER)

    def close(self) -> None:
        self._file.close()


def upload_task(
    clients: AwsClients, bucket: str, key: str, task: tuple[Any, Any, Any], cache_dir: str
) -> None:
    pickled = PickledTask(task, cache_dir)
    try:
        pickled.upload(clients, bucket, key)
    finally:
        pickled.close()


def upload_parts(
    clients: AwsClients, bucket: str, key: str, parts: Sequence[bytes], cache_dir: str
) -> None:
    """One object made of the parts, in order, through a file (the parts are not copied into
    one more buffer)."""
    os.makedirs(cache_dir, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".parts") as f:
        for part in parts:
            f.write(part)
        f.flush()
        clients.client("s3").upload_file(f.name, bucket, key, Config=_TRANSFER)


def download_result(clients: AwsClients, bucket: str, key: str, cache_dir: str) -> Any:
    """The unpickled object at key, or None when there is none.

    One GetObject streamed to a file: a managed download would first spend a HeadObject on
    every task, and a single stream is as fast for all but the largest results.
    """
    os.makedirs(cache_dir, exist_ok=True)
    s3 = clients.client("s3")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    except s3.exceptions.NoSuchKey:
        return None
    with tempfile.NamedTemporaryFile(dir=cache_dir, suffix=".pkl") as f:
        for chunk in body.iter_chunks(_CHUNK):
            f.write(chunk)
        f.seek(0)
        return cloudpickle.load(f)


def read_json(clients: AwsClients, bucket: str, key: str) -> dict[str, Any] | None:
    """The JSON object at key, or None when there is none."""
    s3 = clients.client("s3")
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return dict(json.loads(body))


def write_json(clients: AwsClients, bucket: str, key: str, doc: dict[str, Any]) -> None:
    clients.client("s3").put_object(
        Bucket=bucket, Key=key, Body=json.dumps(doc).encode(), ContentType="application/json"
    )


def delete_prefixes(clients: AwsClients, bucket: str, prefixes: list[str]) -> int:
    """Delete every object under the prefixes; return how many were deleted."""
    s3 = clients.client("s3")
    deleted = 0
    for prefix in prefixes:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            objects = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if objects:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": objects, "Quiet": True})
                deleted += len(objects)
    return deleted
