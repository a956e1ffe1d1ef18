"""What Covalent's dispatcher supplies to an executor, for driving executors without it.

The dispatcher answers an executor's ``get_cancel_requested``, ``get_version_info`` and
``set_job_handle`` through queues, and gives each task fresh stdout/stderr buffers; this stand-in
answers them directly, so both executors run through the same ``run()`` call and nothing else.
"""

from __future__ import annotations

import io
import json
import sys
from importlib.metadata import version
from typing import Any

from covalent.executor.utils import Signals

from executor.awsbatch import AWSBatchExecutor


class DispatcherStandIn:
    """Mixin: the dispatcher's side of the executor protocol, answered in-process."""

    job_handle: Any = None

    def prepare_task(self) -> None:
        self._task_stdout = io.StringIO()
        self._task_stderr = io.StringIO()

    async def get_cancel_requested(self) -> bool:
        return False

    async def get_version_info(self) -> dict[str, str]:
        return {
            "python": f"{sys.version_info.major}.{sys.version_info.minor}",
            "covalent": version("covalent"),
        }

    async def set_job_handle(self, handle: Any) -> None:
        self.job_handle = handle

    async def _ask(self, action: Signals, body: Any) -> Any:
        """The product executor's one channel to the dispatcher, answered by the methods above."""
        if action == Signals.GET and body == "cancel_requested":
            return await self.get_cancel_requested()
        if action == Signals.GET and body == "version_info":
            return await self.get_version_info()
        if action == Signals.PUT and body[0] == "job_handle":
            return await self.set_job_handle(json.loads(body[1]))  # sent as JSON text
        raise ValueError(f"no stand-in answer for {action} {body!r}")


class EventExecutor(DispatcherStandIn, AWSBatchExecutor):
    """The product's executor, unchanged, with the dispatcher's answers filled in."""
