"""Run AWSBatchExecutor.run() the way Covalent's dispatcher does, without a dispatcher.

For the checks a dispatcher gets in the way of: exact control of when a cancel arrives, the
executor process's own memory, a host without Docker. Everything on the AWS side is the real
local stack; only Covalent's answers to the executor's questions are supplied here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from covalent_eventbatch.executor.awsbatch import AWSBatchExecutor
from covalent_eventbatch.localaws.dispatcher import DispatcherStandIn


class DirectRun:
    def __init__(self, executor: AWSBatchExecutor, cancel_requested: bool = False) -> None:
        self.executor = executor
        self.cancel_requested = cancel_requested
        self.dispatch_id = f"direct-{uuid.uuid4()}"
        self.dispatcher = DispatcherStandIn(cancel_requested)

    def __call__(
        self, function: Callable[..., Any], *args: Any, node_id: int = 0, **kwargs: Any
    ) -> Any:
        self.dispatcher = DispatcherStandIn(self.cancel_requested)
        self.dispatcher.attach(self.executor)
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
        return self.dispatcher.stdout.getvalue()

    @property
    def stderr(self) -> str:
        return self.dispatcher.stderr.getvalue()
