"""What only Covalent's dispatcher knows: electron names, and whether the dispatch has finished.

Both are extras: AWS's records make the status. When the dispatcher does not answer (another
machine, stopped, a dispatch it never saw) the names stay empty and the dispatch's end is
judged from AWS alone. Each question is bounded in time.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "POSTPROCESSING_FAILED", "PENDING_POSTPROCESSING"}


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Covalent logs to stdout; a failed question must not mix with this command's output."""
    from covalent._shared_files.logger import app_log

    level = app_log.level
    app_log.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        app_log.setLevel(level)


def _bounded(ask: Callable[[], T], timeout: float) -> T | None:
    box: list[T] = []

    def run() -> None:
        with contextlib.suppress(Exception), _quiet():
            box.append(ask())

    thread = threading.Thread(target=run, name="eventbatch-dispatcher-question", daemon=True)
    thread.start()
    thread.join(timeout)
    return box[0] if box else None


class CovalentDispatch:
    """Names and end of one dispatch, asked of Covalent's dispatcher (cached names)."""

    def __init__(self, dispatch_id: str, enabled: bool = True, timeout: float = 10.0) -> None:
        self.dispatch_id = dispatch_id
        self.enabled = enabled
        self.timeout = timeout
        self.names: dict[int, str] = {}
        self.answers = enabled

    def _names(self) -> dict[int, str]:
        import covalent as ct

        result = ct.get_result(
            self.dispatch_id,
            wait=False,
            workflow_output=False,
            intermediate_outputs=False,
            sublattice_results=False,
        )
        graph = result.lattice.transport_graph
        return {int(n): str(graph.get_node_value(n, "name")) for n in graph._graph.nodes}

    def names_for(self, node_ids: Iterable[int]) -> dict[int, str]:
        """Names of these nodes; asks again only when a node has none yet."""
        missing = [n for n in node_ids if n not in self.names]
        if missing and self.answers:
            found = _bounded(self._names, self.timeout)
            if found is None:
                self.answers = False  # not asked again this run
            else:
                self.names.update(found)
        return dict(self.names)

    def finished(self) -> bool | None:
        """True or False when the dispatcher says; None when it cannot be asked."""
        if not self.answers:
            return None

        def status() -> Any:
            import covalent as ct

            answer: Any = ct.get_result(self.dispatch_id, wait=False, status_only=True)
            return answer["status"]

        answer = _bounded(status, self.timeout)
        if answer is None:
            return None
        return str(answer).rsplit(".", 1)[-1] in _FINISHED
