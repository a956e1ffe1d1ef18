"""What AWS recorded about a dispatch: its objects, markers, executions and Batch jobs. Reads only.

Per refresh, whatever the number of electrons: one listing of the dispatch's task folders and
one of its packs' manifests (which electrons were sent here: a packed electron whose task went
in its pack's bundle has no folder until its outcome is stored; each manifest is read once), one
of its markers (which have ended; each marker is read once, they never change), one
ListExecutions of the state machine's RUNNING executions, then for each
electron still going its execution's history until the Batch job id shows (once), and one
DescribeJobs per 100 jobs. A job that has ended is not described again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from covalent_eventbatch.executor.aws import AwsClients, explain_aws_error
from covalent_eventbatch.executor.awserrors import error_code, is_denied
from covalent_eventbatch.executor.cancel import submitted_job_id
from covalent_eventbatch.executor.errors import EventBatchError
from covalent_eventbatch.executor.layout import (
    TaskLocation,
    dispatch_prefixes,
    markers_prefix,
    safe_name,
)
from covalent_eventbatch.executor.names import execution_arn, state_machine_arn
from covalent_eventbatch.executor.settings import ExecutorSettings

_TERMINAL_JOB = ("SUCCEEDED", "FAILED")
# Pages of the state machine's execution list searched for a dispatch without objects.
_CLEANED_UP_PAGES = 5


class DispatchViewError(EventBatchError):
    """A dispatch or node that cannot be shown; the message says which and why."""


class UnknownDispatchError(DispatchViewError):
    """Nothing of the dispatch is here (yet: a dispatch just sent has no electron out so far)."""


@dataclass
class NodeRecord:
    """Everything AWS holds about one electron, as found."""

    node_id: int
    marker: dict[str, Any] | None = None
    execution_arn: str | None = None
    execution_status: str | None = None  # None: no execution (yet)
    job_id: str | None = None
    job: dict[str, Any] | None = None


@dataclass
class Snapshot:
    dispatch_id: str
    region: str
    partition: str
    state_machine_arn: str
    taken_at_ms: int
    nodes: dict[int, NodeRecord] = field(default_factory=dict)


def explain_read_error(exc: Exception, settings: ExecutorSettings, what: str) -> EventBatchError:
    if is_denied(exc):
        operation = getattr(exc, "operation_name", "a read")
        return DispatchViewError(
            f"missing read permission: {operation} was denied while reading {what} "
            f"({error_code(exc)}); grant the DispatchStatus statement of "
            "controlplane/executor-policy.json and the executor's own read actions"
        )
    explained = explain_aws_error(exc, settings)
    if explained is not None:
        return DispatchViewError(f"reading {what}: {explained}")
    return DispatchViewError(f"reading {what} failed: {exc}")


class DispatchReader:
    """Reads one dispatch, keeping what cannot change (markers, ended jobs) between refreshes."""

    def __init__(
        self,
        settings: ExecutorSettings,
        clients: AwsClients,
        dispatch_id: str,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self.settings = settings
        self.clients = clients
        self.dispatch_id = dispatch_id
        self._clock_ms = clock_ms
        self._markers: dict[int, dict[str, Any]] = {}
        self._job_ids: dict[int, str] = {}
        self._ended_jobs: dict[str, dict[str, Any]] = {}
        self._machine: str | None = None
        # Packed electrons (one array job for several): node -> (the pack's execution, index),
        # from the dispatch's manifests, each read once; the array job's id per execution.
        self._packed: dict[int, tuple[str, int]] = {}
        self._manifests_read: set[str] = set()
        self._array_jobs: dict[str, str] = {}

    @property
    def state_machine_arn(self) -> str:
        if self._machine is None:
            self._machine = state_machine_arn(
                self.clients.partition(),
                self.clients.region,
                self.clients.account_id(),
                self.settings.state_machine_name,
            )
        return self._machine

    def location(self, node_id: int) -> TaskLocation:
        return TaskLocation(
            self.settings.s3_bucket_name, self.settings.s3_prefix, self.dispatch_id, node_id
        )

    def execution_arn(self, node_id: int) -> str:
        return execution_arn(self.state_machine_arn, self.location(node_id).execution_name)

    def snapshot(self) -> Snapshot:
        """Every electron of the dispatch with what AWS holds about it now."""
        try:
            return self._snapshot()
        except (ClientError, BotoCoreError) as exc:
            raise explain_read_error(exc, self.settings, f"dispatch {self.dispatch_id}") from None

    def node(self, node_id: int) -> NodeRecord:
        """One electron, read on its own (a few requests); raises when it never ran here."""
        try:
            return self._node(node_id)
        except (ClientError, BotoCoreError) as exc:
            raise explain_read_error(
                exc, self.settings, f"node {node_id} of {self.dispatch_id}"
            ) from None

    def _node(self, node_id: int) -> NodeRecord:
        location = self.location(node_id)
        record = NodeRecord(node_id, marker=self._markers.get(node_id))
        if record.marker is None:
            s3 = self.clients.client("s3")
            try:
                body = s3.get_object(Bucket=location.bucket, Key=location.marker_key)["Body"].read()
                record.marker = self._markers[node_id] = json.loads(body)
            except s3.exceptions.NoSuchKey:
                pass
        packed = self._read_manifests()
        if (
            record.marker is None
            and node_id not in packed
            and not self._list(location.task_dir, "/")[0]
        ):
            tasks_prefix = dispatch_prefixes(self.settings.s3_prefix, self.dispatch_id)[0]
            others = sorted(self._listed_nodes(tasks_prefix) | set(self._markers) | set(packed))
            if not others:
                self._raise_unknown()
            raise DispatchViewError(
                f"node {node_id} of dispatch {self.dispatch_id} never ran on this executor "
                f"(its electrons here: {', '.join(str(n) for n in others)})"
            )
        snapshot = Snapshot(self.dispatch_id, "", "", "", self._clock_ms(), {node_id: record})
        self._find_executions(snapshot, packed)
        self._describe_jobs(snapshot)
        return record

    def _snapshot(self) -> Snapshot:
        now = self._clock_ms()
        snapshot = Snapshot(
            self.dispatch_id,
            self.clients.region,
            self.clients.partition(),
            self.state_machine_arn,
            now,
        )
        tasks_prefix = dispatch_prefixes(self.settings.s3_prefix, self.dispatch_id)[0]
        node_ids = self._listed_nodes(tasks_prefix)
        packed = self._read_manifests()
        self._read_markers()
        node_ids |= set(packed) | set(self._markers)
        if not node_ids:
            self._raise_unknown()
        for node_id in sorted(node_ids):
            snapshot.nodes[node_id] = NodeRecord(node_id, marker=self._markers.get(node_id))
        self._find_executions(snapshot, packed)
        self._describe_jobs(snapshot)
        return snapshot

    # -- S3 ------------------------------------------------------------------------------

    def _list(self, prefix: str, delimiter: str | None) -> tuple[list[str], list[str]]:
        s3 = self.clients.client("s3")
        keys: list[str] = []
        folders: list[str] = []
        kwargs: dict[str, Any] = {"Bucket": self.settings.s3_bucket_name, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
            keys += [o["Key"] for o in page.get("Contents", [])]
            folders += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
        return keys, folders

    def _listed_nodes(self, tasks_prefix: str) -> set[int]:
        _, folders = self._list(tasks_prefix, "/")
        found = set()
        for folder in folders:
            name = folder[len(tasks_prefix) :].rstrip("/")
            if name.isdigit():
                found.add(int(name))
        return found

    def _read_markers(self) -> None:
        prefix = markers_prefix(self.settings.s3_prefix, self.dispatch_id)
        keys, _ = self._list(prefix, None)
        s3 = self.clients.client("s3")
        for key in keys:
            name = key[len(prefix) :]
            if not name.endswith(".json") or not name[:-5].isdigit():
                continue
            node_id = int(name[:-5])
            if node_id not in self._markers:
                body = s3.get_object(Bucket=self.settings.s3_bucket_name, Key=key)["Body"].read()
                self._markers[node_id] = json.loads(body)

    def _read_manifests(self) -> dict[int, tuple[str, int]]:
        tasks_prefix = dispatch_prefixes(self.settings.s3_prefix, self.dispatch_id)[0]
        keys, _ = self._list(f"{tasks_prefix}packs/", None)
        s3 = self.clients.client("s3")
        for key in keys:
            if key in self._manifests_read or not key.endswith(".json"):
                continue
            body = s3.get_object(Bucket=self.settings.s3_bucket_name, Key=key)["Body"].read()
            manifest = json.loads(body)
            for index, entry in enumerate(manifest.get("tasks") or []):
                self._packed[int(entry["node_id"])] = (manifest["execution_arn"], index)
            self._manifests_read.add(key)
        return self._packed

    def _raise_unknown(self) -> None:
        """No object of the dispatch: cleaned up (its executions remain) or never here."""
        sfn = self.clients.client("stepfunctions")
        name_prefix = f"{safe_name(self.dispatch_id)}-"
        pages = sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn,
            PaginationConfig={"MaxItems": 1000 * _CLEANED_UP_PAGES, "PageSize": 1000},
        )
        for page in pages:
            if any(e["name"].startswith(name_prefix) for e in page["executions"]):
                raise DispatchViewError(
                    f"dispatch {self.dispatch_id} was cleaned up: its executions remain on "
                    f"{self.state_machine_arn} but its objects and markers are gone from "
                    f"s3://{self.settings.s3_bucket_name}/{self.settings.s3_prefix}"
                )
        raise UnknownDispatchError(
            f"unknown dispatch {self.dispatch_id}: no electron of it ran on this executor "
            f"(nothing under s3://{self.settings.s3_bucket_name}/{self.settings.s3_prefix}/ "
            f"and no execution of {self.settings.state_machine_name}); check the dispatch id "
            "and the [executors.awsbatch] settings (region, s3_bucket_name, s3_prefix)"
        )

    # -- Step Functions ------------------------------------------------------------------

    def _running_executions(self) -> dict[str, str]:
        sfn = self.clients.client("stepfunctions")
        running: dict[str, str] = {}
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn, statusFilter="RUNNING"
        ):
            for execution in page["executions"]:
                running[execution["name"]] = execution["executionArn"]
        return running

    def _find_executions(self, snapshot: Snapshot, packed: dict[int, tuple[str, int]]) -> None:
        going = [n for n in snapshot.nodes.values() if n.marker is None]
        for record in snapshot.nodes.values():
            if record.marker is not None:
                record.execution_arn = record.marker.get("execution_arn")
                record.execution_status = record.marker.get("status")
                record.job_id = record.marker.get("job_id")
        if not going:
            return
        # One listing of RUNNING executions serves many electrons; one is described directly.
        running = self._running_executions() if len(going) > 1 else {}
        sfn = self.clients.client("stepfunctions")
        for record in going:
            if record.node_id in packed:
                self._find_pack_member(record, *packed[record.node_id], running)
                continue
            name = self.location(record.node_id).execution_name
            # A rerun with other input carries a hash suffix (executor/workflow.py).
            arn = running.get(name) or next(
                (a for n, a in running.items() if n.startswith(f"{name}-")), None
            )
            if arn is not None:
                record.execution_arn, record.execution_status = arn, "RUNNING"
            else:
                record.execution_arn = self.execution_arn(record.node_id)
                try:
                    described = sfn.describe_execution(executionArn=record.execution_arn)
                    record.execution_status = described["status"]
                except sfn.exceptions.ExecutionDoesNotExist:
                    record.execution_arn = None  # not started yet
                    continue
            record.job_id = self._job_ids.get(record.node_id)
            if record.job_id is None:
                record.job_id = submitted_job_id(self.clients, record.execution_arn)
                if record.job_id:
                    self._job_ids[record.node_id] = record.job_id

    def _find_pack_member(
        self, record: NodeRecord, execution_arn: str, index: int, running: dict[str, str]
    ) -> None:
        """A packed electron: its pack's execution, and its child ``ARRAY_JOB:INDEX``."""
        record.execution_arn = execution_arn
        if execution_arn in running.values():
            record.execution_status = "RUNNING"
        else:
            sfn = self.clients.client("stepfunctions")
            try:
                described = sfn.describe_execution(executionArn=execution_arn)
            except sfn.exceptions.ExecutionDoesNotExist:
                record.execution_arn = None  # the manifest is written just before the start
                return
            record.execution_status = described["status"]
        array_job = self._array_jobs.get(execution_arn)
        if array_job is None:
            array_job = submitted_job_id(self.clients, execution_arn)
            if array_job:
                self._array_jobs[execution_arn] = array_job
        record.job_id = f"{array_job}:{index}" if array_job else None

    # -- Batch ---------------------------------------------------------------------------

    def _describe_jobs(self, snapshot: Snapshot) -> None:
        wanted = [
            r.job_id
            for r in snapshot.nodes.values()
            if r.job_id and r.job_id not in self._ended_jobs
        ]
        found: dict[str, dict[str, Any]] = {}
        batch = self.clients.client("batch")
        for start in range(0, len(wanted), 100):  # DescribeJobs takes at most 100 ids
            for job in batch.describe_jobs(jobs=wanted[start : start + 100])["jobs"]:
                found[job["jobId"]] = job
                if job.get("status") in _TERMINAL_JOB:
                    self._ended_jobs[job["jobId"]] = job
        for record in snapshot.nodes.values():
            if record.job_id:
                record.job = self._ended_jobs.get(record.job_id) or found.get(record.job_id)
