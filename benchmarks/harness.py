"""What Covalent's dispatcher supplies to an executor, for driving executors without it.

The dispatcher answers an executor's ``get_cancel_requested``, ``get_version_info`` and
``set_job_handle`` through queues, and gives each task fresh stdout/stderr buffers; this stand-in
answers them directly, so both executors run through the same ``run()`` call and nothing else.
"""

from __future__ import annotations

import io
import sys
from importlib.metadata import version
from typing import Any

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


class EventExecutor(DispatcherStandIn, AWSBatchExecutor):
    """The product's executor, unchanged, with the dispatcher's answers filled in."""
