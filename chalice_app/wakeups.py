"""Wake the waiting dispatcher process once its markers are written.

Standard library and boto3 only (this runs in the Lambda runtime). An execution's marker location
may name the SQS queue of the process that waits for it (``Marker.Wake``, see
``executor/wakeups.py``); after writing a marker the handler sends that queue one message naming
it, with the document when this invocation wrote it. The marker in S3 is the record: a wake-up
that cannot be sent is logged and left to the process's fallback listing, never retried by
failing the invocation (its queue may be gone with its process).
"""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlparse

log = logging.getLogger(__name__)

# Kept equal to executor/names.py's WAKE_QUEUE_PREFIX (a test checks): the function's role may
# send to queues so named only, and any other URL in an event is not ours to use.
WAKE_QUEUE_PREFIX = "covalent-eventbatch-wake-"
MESSAGE_VERSION = 1
_BATCH = 10  # SendMessageBatch's most entries
# Well under SQS's 256 KiB message limit: a marker document is about 1 KiB.
_MESSAGE_BYTES = 200_000


def wake_url(marker: Any) -> str | None:
    """The queue a marker location names, when it is a wake-up queue; else None."""
    url = marker.get("Wake") if isinstance(marker, dict) else None
    if not isinstance(url, str):
        return None
    name = urlparse(url).path.rstrip("/").rpartition("/")[2]
    return url if name.startswith(WAKE_QUEUE_PREFIX) else None


def message_bodies(entries: list[dict]) -> list[str]:
    """The entries in as few message bodies as fit; a document left out is read from S3."""
    bodies: list[str] = []
    current: list[dict] = []
    size = 0
    for entry in entries:
        text = json.dumps(entry)
        if len(text) > _MESSAGE_BYTES // 10:
            entry = {k: v for k, v in entry.items() if k != "Marker"}
            text = json.dumps(entry)
        if current and size + len(text) > _MESSAGE_BYTES:
            bodies.append(json.dumps({"version": MESSAGE_VERSION, "markers": current}))
            current, size = [], 0
        current.append(entry)
        size += len(text) + 2
    if current:
        bodies.append(json.dumps({"version": MESSAGE_VERSION, "markers": current}))
    return bodies


def send(sqs: Any, written: list[tuple[dict, dict | None]]) -> int:
    """Wake the queues the marker locations name; returns the messages sent.

    ``written``: (marker location, the document written, or None to have the process read it).
    """
    by_queue: dict[str, list[dict]] = {}
    for location, doc in written:
        url = wake_url(location)
        if url is None:
            continue
        entry: dict[str, Any] = {"Bucket": location["Bucket"], "Key": location["Key"]}
        if doc is not None:
            entry["Marker"] = doc
        by_queue.setdefault(url, []).append(entry)
    sent = 0
    for url, entries in by_queue.items():
        bodies = message_bodies(entries)
        for first in range(0, len(bodies), _BATCH):
            batch = [
                {"Id": str(i), "MessageBody": body}
                for i, body in enumerate(bodies[first : first + _BATCH])
            ]
            try:
                response = sqs.send_message_batch(QueueUrl=url, Entries=batch)
            except Exception as exc:  # noqa: BLE001 - the process lists its markers anyway
                log.warning(
                    "could not wake %s (%s): its process finds the markers by listing", url, exc
                )
                break
            failed = response.get("Failed") or []
            if failed:
                log.warning("could not wake %s for %d message(s): %s", url, len(failed), failed)
            sent += len(batch) - len(failed)
    return sent
