"""Run AWSBatchExecutor.run() the way Covalent's dispatcher does, without a dispatcher.

For the checks a dispatcher gets in the way of: exact control of when a cancel arrives, the
executor process's own memory, a host without Docker. Everything on the AWS side is the real
local stack; only Covalent's answers to the executor's questions are supplied here.
"""

from __future__ import annotations

import asyncio
import io
import platform
import uuid
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

from covalent.executor.utils import Signals

from executor.awsbatch import AWSBatchExecutor


class DirectRun:
    def __init__(self, executor: AWSBatchExecutor, cancel_requested: bool = False) -> None:
        self.executor = executor
        self.cancel_requested = cancel_requested
        self.job_handle: Any = None
        self.dispatch_id = f"direct-{uuid.uuid4()}"

    async def _answer(self, action: Signals, body: Any) -> Any:
        if action == Signals.GET and body == "cancel_requested":
            return self.cancel_requested
        if action == Signals.GET and body == "version_info":
            return {"python": platform.python_version(), "covalent": version("covalent")}
        if action == Signals.PUT and body[0] == "job_handle":
            self.job_handle = body[1]
            return None
        raise AssertionError(f"unexpected signal {action} {body}")

    def __call__(
        self, function: Callable[..., Any], *args: Any, node_id: int = 0, **kwargs: Any
    ) -> Any:
        self.executor._task_stdout = io.StringIO()
        self.executor._task_stderr = io.StringIO()
        self.executor._ask = self._answer  # type: ignore[method-assign]
        metadata = {"dispatch_id": self.dispatch_id, "node_id": node_id}
        box: list[Any] = []

        async def main() -> None:
            box.append(await self.executor.run(function, list(args), kwargs, metadata))

        # The result is kept out of the main task: asyncio.run formats the finished task's repr
        # (result included) when it restores the SIGINT handler, a 4x copy of a large result.
        asyncio.run(main())
        return box[0]

    @property
    def stdout(self) -> str:
        return str(self.executor._task_stdout.getvalue())

    @property
    def stderr(self) -> str:
        return str(self.executor._task_stderr.getvalue())
