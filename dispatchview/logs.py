"""An electron's container output from CloudWatch Logs: every attempt, followed while it runs.

Each Batch attempt writes its own log stream, in the awslogs group its job definition names
(the local stack's Batch writes to Batch's default group instead, so that one is tried too).
Following polls each stream with GetLogEvents' forward token, once a second, until the electron
has ended, then reads what is left.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import IO

from botocore.exceptions import BotoCoreError, ClientError

from covalent_eventbatch.executor.logs import BATCH_DEFAULT_GROUP

from .reads import DispatchReader, NodeRecord, explain_read_error
from .rows import log_group_of, log_streams, stage_of


class LogFollower:
    def __init__(self, reader: DispatchReader, node_id: int, out: IO[str], err: IO[str]) -> None:
        self.reader = reader
        self.node_id = node_id
        self.out = out
        self.err = err
        self._tokens: dict[str, str | None] = {}  # stream -> forward token
        self._groups: dict[str, str] = {}  # stream -> the group it was found in
        self.lines = 0

    def _candidates(self, record: NodeRecord) -> list[str]:
        configured = log_group_of(record.job, self.reader.settings)
        return list(
            dict.fromkeys(
                (configured, self.reader.settings.batch_job_log_group_name, BATCH_DEFAULT_GROUP)
            )
        )

    def _read_stream(self, record: NodeRecord, stream: str, attempt: int) -> None:
        logs = self.reader.clients.client("logs")
        groups = [self._groups[stream]] if stream in self._groups else self._candidates(record)
        for group in groups:
            token = self._tokens.get(stream)
            while True:
                kwargs = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
                if token:
                    kwargs["nextToken"] = token
                try:
                    page = logs.get_log_events(**kwargs)
                except logs.exceptions.ResourceNotFoundException:
                    break  # not in this group (or not created yet)
                if stream not in self._groups:
                    self._groups[stream] = group
                    print(f"== attempt {attempt}: {group} {stream}", file=self.err, flush=True)
                for event in page["events"]:
                    print(event["message"], file=self.out, flush=True)
                    self.lines += 1
                if page.get("nextForwardToken") in (None, token):
                    break
                token = page["nextForwardToken"]
            self._tokens[stream] = token
            if stream in self._groups:
                return

    def read_all(self, record: NodeRecord) -> None:
        for attempt, stream in enumerate(log_streams(record), start=1):
            self._read_stream(record, stream, attempt)

    def run(
        self,
        follow: bool,
        interval: float = 1.0,
        sleep: Callable[[float], object] = time.sleep,
        limit_s: float | None = None,
    ) -> int:
        started = time.monotonic()
        said = None
        try:
            while True:
                record = self.reader.node(self.node_id)
                stage, ended, _ = stage_of(record)
                self.read_all(record)
                if not follow or ended:
                    if ended and follow:
                        self.read_all(self.reader.node(self.node_id))  # what came at the end
                    if not log_streams(record):
                        print(f"node {self.node_id}: no log stream ({stage})", file=self.err)
                    return 0
                if stage != said and not log_streams(record):
                    print(f"node {self.node_id}: {stage}, waiting for its log", file=self.err)
                    said = stage
                if limit_s is not None and time.monotonic() - started > limit_s:
                    return 0
                sleep(interval)
        except (ClientError, BotoCoreError) as exc:
            raise explain_read_error(
                exc, self.reader.settings, f"the log of node {self.node_id}"
            ) from None


def print_logs(reader: DispatchReader, node_id: int, follow: bool) -> int:
    try:
        return LogFollower(reader, node_id, sys.stdout, sys.stderr).run(follow)
    except KeyboardInterrupt:
        return 130
