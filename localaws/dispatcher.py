"""What Covalent's dispatcher answers an executor, supplied in-process.

An executor asks the dispatcher three things through ``_ask``: whether a cancel was requested,
the dispatch's Python and Covalent versions, and (telling rather than asking) its job handle.
The dispatcher also gives each task fresh stdout/stderr buffers. Attaching this stand-in lets a
test or the benchmark drive ``run()`` directly, with every AWS call still going to the stack.
"""

from __future__ import annotations

import io
import json
import platform
from importlib.metadata import version
from typing import Any, TypeVar

from covalent.executor.utils import Signals

E = TypeVar("E")


class DispatcherStandIn:
    def __init__(self, cancel_requested: bool = False) -> None:
        self.cancel_requested = cancel_requested
        self.job_handle: Any = None
        self.stdout = io.StringIO()
        self.stderr = io.StringIO()

    def attach(self, executor: E) -> E:
        """Route ``executor``'s questions here and give it this task's output buffers."""
        executor._ask = self.answer  # type: ignore[attr-defined]
        executor._task_stdout = self.stdout  # type: ignore[attr-defined]
        executor._task_stderr = self.stderr  # type: ignore[attr-defined]
        return executor

    async def answer(self, action: Signals, body: Any) -> Any:
        if action == Signals.GET and body == "cancel_requested":
            return self.cancel_requested
        if action == Signals.GET and body == "version_info":
            return {"python": platform.python_version(), "covalent": version("covalent")}
        if action == Signals.PUT and body[0] == "job_handle":
            self.job_handle = json.loads(body[1])  # executors send it as JSON text
            return None
        raise ValueError(f"no stand-in answer for {action} {body!r}")
