"""This process's wake-up queue: the Lambda says which markers it wrote, the moment it wrote them.

Each dispatcher process opens one SQS queue of its own (per set of AWS clients), puts its URL in
the marker location of each execution it starts (``Marker.Wake``), and the marker watcher
long-polls it (``markers.py``). After writing a marker the Lambda sends the queue a message
naming it, with the document it wrote (``chalice_app/wakeups.py``). The S3 marker stays the
record of every outcome: a wake-up that is lost or comes twice changes nothing, and the watcher's
slow listing finds what no wake-up announced.

Messages are never deleted: a received message is hidden for longer than the queue keeps any
message (SQS's shortest retention, 60 s), so it expires unseen and a wake-up costs one receive.

Queues outlive a process killed while waiting. Each carries its owner (host, process id and the
process's start time) and a heartbeat tag renewed while the process waits; the next process to
open a queue, and ``eventbatch cleanup``, delete the queues of processes that are gone (on this
host) or silent for longer than ``STALE_S`` (elsewhere). An idle queue costs nothing on AWS.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from .aws import COMMAND_CLIENT_CONFIG, AwsClients
from .awserrors import is_denied, is_missing
from .names import WAKE_QUEUE_PREFIX

log = logging.getLogger(__name__)

WAIT_S = 20  # SQS's longest long poll: an idle process asks three times a minute
RETENTION_S = 60  # SQS's shortest retention: an unread wake-up is worth nothing after that
HIDE_S = 600  # longer than the retention: a received wake-up is never received again
HEARTBEAT_S = 900.0
STALE_S = 3600.0  # four heartbeats missed: its process is gone
OWNER_TAG = "eventbatch-owner"
BEAT_TAG = "eventbatch-heartbeat"
MESSAGE_VERSION = 1
# The permissions a queue of one's own takes; named in the warning when one is refused.
PERMISSIONS = (
    "sqs:CreateQueue",
    "sqs:TagQueue",
    "sqs:ReceiveMessage",
    "sqs:DeleteQueue",
    "sqs:ListQueues",
    "sqs:ListQueueTags",
)


@dataclass(frozen=True)
class Wakeup:
    """A marker the Lambda wrote: where, and the document when the message carried it."""

    bucket: str
    key: str
    document: dict[str, Any] | None


def parse(body: str) -> list[Wakeup]:
    """The wake-ups of one message; an unreadable message or entry is ignored."""
    try:
        message = json.loads(body)
    except ValueError:
        return []
    found = []
    for entry in message.get("markers") or [] if isinstance(message, dict) else []:
        if not isinstance(entry, dict):
            continue
        bucket, key, doc = entry.get("Bucket"), entry.get("Key"), entry.get("Marker")
        if isinstance(bucket, str) and isinstance(key, str):
            found.append(Wakeup(bucket, key, doc if isinstance(doc, dict) else None))
    return found


def owner() -> str:
    """host/pid/start: names this process among every process that ever had a queue."""
    me = psutil.Process()
    return f"{socket.gethostname()}/{me.pid}/{int(me.create_time())}"


def owner_is_gone(tags: dict[str, str], now: float, host: str | None = None) -> str | None:
    """Why the queue's process is gone, or None while it may still wait on it."""
    host = host or socket.gethostname()
    name, _, rest = tags.get(OWNER_TAG, "").partition("/")
    pid_text, _, started_text = rest.partition("/")
    if name == host and pid_text.isdigit() and started_text.isdigit():
        try:
            alive = int(psutil.Process(int(pid_text)).create_time()) == int(started_text)
        except psutil.Error:
            alive = False
        return None if alive else f"process {pid_text} on {host} has ended"
    beat = tags.get(BEAT_TAG, "")
    if beat.isdigit() and now - int(beat) < STALE_S:
        return None
    return f"no heartbeat for over {STALE_S / 60:.0f} min (owner {tags.get(OWNER_TAG) or '?'})"


def remove_abandoned(
    clients: AwsClients, keep: str | None = None, now: float | None = None
) -> list[tuple[str, str]]:
    """Delete the wake-up queues whose process is gone; (url, why) of each one deleted."""
    sqs = clients.client("sqs")
    now = time.time() if now is None else now
    removed = []
    urls: list[str] = []
    for page in sqs.get_paginator("list_queues").paginate(QueueNamePrefix=WAKE_QUEUE_PREFIX):
        urls.extend(page.get("QueueUrls") or [])
    for url in urls:
        if url == keep:
            continue
        try:
            tags = sqs.list_queue_tags(QueueUrl=url).get("Tags") or {}
            why = owner_is_gone(tags, now)
            if why is not None:
                sqs.delete_queue(QueueUrl=url)
                removed.append((url, why))
        except Exception as exc:  # noqa: BLE001 - another process removed it first, say
            if not is_missing(exc):
                log.debug("could not check wake-up queue %s: %s", url, exc)
    return removed


class QueueGone(Exception):
    """The queue was deleted under the process: completions are found by listing from now on."""


class WakeQueue:
    """This process's queue for one set of clients: opened on first use, closed when idle."""

    def __init__(self, clients: AwsClients, clock: Callable[[], float] = time.monotonic) -> None:
        self._clients = clients
        self._clock = clock
        self._lock = threading.Lock()
        self._url: str | None = None
        self._handed_at = 0.0  # clock time a URL was last handed out
        self._beat_at = 0.0
        self._refused_until = 0.0  # after a refusal, no new attempt before this
        self._warned = False
        self._answering = True

    def url(self) -> str | None:
        """The queue's URL for an execution's marker, or None when there is no queue."""
        with self._lock:
            now = self._clock()
            if self._url is None and now >= self._refused_until:
                self._url = self._open()
                if self._url is None:
                    self._refused_until = now + STALE_S / 6
            self._handed_at = now
            return self._url

    def answers(self, url: str | None) -> bool:
        """Whether url is this queue's, open, and its last receive worked."""
        return url is not None and url == self._url and self._answering

    def _open(self) -> str | None:
        sqs = self._clients.client("sqs")
        try:
            removed = remove_abandoned(self._clients)
            for url, why in removed:
                log.info("removed wake-up queue %s: %s", url, why)
            name = f"{WAKE_QUEUE_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:12]}"
            url = sqs.create_queue(
                QueueName=name,
                Attributes={
                    "MessageRetentionPeriod": str(RETENTION_S),
                    "ReceiveMessageWaitTimeSeconds": str(WAIT_S),
                },
                tags={OWNER_TAG: owner(), BEAT_TAG: str(int(time.time()))},
            )["QueueUrl"]
        except Exception as exc:  # noqa: BLE001 - no queue: the listing does the job
            self._warn_unavailable(exc)
            return None
        self._beat_at = self._clock()
        log.info("wake-up queue %s opened", url)
        return str(url)

    def _warn_unavailable(self, exc: BaseException) -> None:
        if self._warned:
            return
        self._warned = True
        if is_denied(exc):
            why = (
                f"these credentials may not use an SQS queue of their own ({exc}); grant "
                f"{', '.join(PERMISSIONS)} on queues named {WAKE_QUEUE_PREFIX}* "
                "(controlplane/executor-policy.json)"
            )
        else:
            why = f"SQS did not answer ({type(exc).__name__}: {exc})"
        log.warning(
            "awsbatch: no wake-up queue, %s: completions are found by listing markers every "
            "marker_interval seconds instead",
            why,
        )

    def receive(self, wait_s: float) -> list[Wakeup]:
        """The wake-ups that arrive within wait_s (returns as soon as one does)."""
        url = self._url
        if url is None:
            return []
        sqs = self._clients.client("sqs")
        try:
            received = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                WaitTimeSeconds=max(0, min(WAIT_S, int(wait_s))),
                VisibilityTimeout=HIDE_S,
            )
        except Exception as exc:
            if is_missing(exc):
                self._lost(url)
                raise QueueGone(url) from None
            self._answering = False
            raise
        self._answering = True
        wakeups: list[Wakeup] = []
        for message in received.get("Messages") or []:
            wakeups.extend(parse(message.get("Body") or ""))
        self._heartbeat(url)
        return wakeups

    def _lost(self, url: str) -> None:
        with self._lock:
            if self._url == url:
                self._url = None
        log.warning(
            "awsbatch: wake-up queue %s was deleted: the tasks waiting on it are found by "
            "listing markers every marker_interval seconds; new tasks get a new queue",
            url,
        )

    def _heartbeat(self, url: str) -> None:
        if self._clock() - self._beat_at < HEARTBEAT_S:
            return
        self._beat_at = self._clock()
        try:
            self._clients.client("sqs").tag_queue(
                QueueUrl=url, Tags={BEAT_TAG: str(int(time.time()))}
            )
        except Exception as exc:  # noqa: BLE001 - the next beat tries again
            log.debug("heartbeat of %s failed: %s", url, exc)

    def close(self, idle_s: float = 0.0) -> bool:
        """Delete the queue unless a URL was handed out within idle_s; True when closed."""
        with self._lock:
            url = self._url
            if url is None or self._clock() - self._handed_at < idle_s:
                return False
            self._url = None
        try:
            # Short timeouts: this may run as the process exits, with the endpoint gone.
            quick = self._clients.session.client(
                "sqs",
                region_name=self._clients.region,
                endpoint_url=self._clients.endpoint_url,
                config=COMMAND_CLIENT_CONFIG,
            )
            quick.delete_queue(QueueUrl=url)
        except Exception as exc:  # noqa: BLE001 - a later cleanup removes it
            log.debug("deleting wake-up queue %s failed: %s", url, exc)
        return True
