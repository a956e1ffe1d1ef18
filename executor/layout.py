"""Where a task's objects live in S3 and what its AWS resources are called.

S3 layout, under the bucket ``s3_bucket_name`` and the prefix ``s3_prefix`` (default ``covalent``)::

    PREFIX/tasks/DISPATCH_ID/NODE_ID/task.pkl     cloudpickle of (function, args, kwargs)
    PREFIX/tasks/DISPATCH_ID/NODE_ID/result.pkl   {result, stdout, stderr}, on success
    PREFIX/tasks/DISPATCH_ID/NODE_ID/io.json      stdout, stderr, exception and traceback
    PREFIX/tasks/DISPATCH_ID/packs/PACK_ID.json   a pack's manifest (array index -> electron)
    PREFIX/tasks/DISPATCH_ID/packs/PACK_ID.tasks  a pack's small tasks in one object (no task.pkl)
    PREFIX/markers/DISPATCH_ID/NODE_ID.json       completion marker, written by the Lambda

Markers have a prefix of their own so that one listing per dispatch returns only markers, however
many tasks the dispatch has. ``eventbatch cleanup DISPATCH_ID`` removes a dispatch's objects.
The Lambda never reads this module: the marker's bucket and key travel in the execution input.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

# Step Functions execution names and Batch job names: at most 80 characters of [A-Za-z0-9_-].
_NAME_LIMIT = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def short_hash(text: str, length: int = 12) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def safe_name(*parts: object, limit: int = _NAME_LIMIT) -> str:
    """Join parts into an AWS-safe name; too long, it keeps its start and gets a hash suffix."""
    name = _UNSAFE.sub("-", "-".join(str(p) for p in parts))
    if len(name) <= limit:
        return name
    suffix = short_hash(name, 10)
    return f"{name[: limit - len(suffix) - 1]}-{suffix}"


@dataclass(frozen=True)
class TaskLocation:
    """The S3 objects and names of one electron (one node of one dispatch)."""

    bucket: str
    prefix: str
    dispatch_id: str
    node_id: int

    @property
    def task_dir(self) -> str:
        return f"{self._root}tasks/{self.dispatch_id}/{self.node_id}/"

    @property
    def task_key(self) -> str:
        return self.task_dir + "task.pkl"

    @property
    def result_key(self) -> str:
        return self.task_dir + "result.pkl"

    @property
    def io_key(self) -> str:
        return self.task_dir + "io.json"

    @property
    def marker_key(self) -> str:
        return f"{self.markers_prefix}{self.node_id}.json"

    @property
    def markers_prefix(self) -> str:
        return markers_prefix(self.prefix, self.dispatch_id)

    @property
    def execution_name(self) -> str:
        """Unique per electron, so a repeated StartExecution finds the same execution."""
        return safe_name(self.dispatch_id, self.node_id)

    @property
    def job_name(self) -> str:
        return safe_name("covalent", self.dispatch_id, self.node_id, limit=128)

    @property
    def _root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""


def markers_prefix(prefix: str, dispatch_id: str) -> str:
    root = f"{prefix}/" if prefix else ""
    return f"{root}markers/{dispatch_id}/"


def dispatch_prefixes(prefix: str, dispatch_id: str) -> list[str]:
    """Every prefix holding a dispatch's objects (for clean-up)."""
    root = f"{prefix}/" if prefix else ""
    return [f"{root}tasks/{dispatch_id}/", markers_prefix(prefix, dispatch_id)]


@dataclass(frozen=True)
class PackLocation:
    """The S3 objects and names of one pack: electrons of a dispatch run as one array job.

    ``pack_id`` is ``FIRST-LAST-HASH`` (first and last node ids, a hash of all of them), so the
    names say which nodes a pack holds and never collide.
    """

    bucket: str
    prefix: str
    dispatch_id: str
    node_ids: tuple[int, ...]

    @property
    def pack_id(self) -> str:
        nodes = ",".join(str(n) for n in self.node_ids)
        return f"{min(self.node_ids)}-{max(self.node_ids)}-{short_hash(nodes, 8)}"

    @property
    def manifest_key(self) -> str:
        """Array index -> electron, read by each child."""
        return f"{self._root}tasks/{self.dispatch_id}/packs/{self.pack_id}.json"

    @property
    def bundle_key(self) -> str:
        """The pack's small tasks, their pickles one after another (the manifest has the ranges)."""
        return f"{self._root}tasks/{self.dispatch_id}/packs/{self.pack_id}.tasks"

    @property
    def marker_key(self) -> str:
        """The pack's own outcome (the array job's); each electron keeps its own marker."""
        return f"{markers_prefix(self.prefix, self.dispatch_id)}pack-{self.pack_id}.json"

    @property
    def execution_name(self) -> str:
        return safe_name(self.dispatch_id, "nodes", self.pack_id)

    @property
    def job_name(self) -> str:
        return safe_name("covalent", self.dispatch_id, "nodes", self.pack_id, limit=128)

    @property
    def _root(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""
