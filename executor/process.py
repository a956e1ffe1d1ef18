"""What the executors of one process share: one object, created once, reset by tests.

Covalent builds a new executor for every task and rebuilds it from ``to_dict()``, so nothing that
must outlive a task can sit on the executor. It lives here instead: the AWS clients (one set per
credentials, region and endpoint), what was found once and need not be asked again (runtime
images, checked buckets and state machines), the locks that make concurrent first tasks find
those once, the definition gate, the wake-up queues, the marker watcher, the pack gatherer and
what the deployed state machines were found to run.
"""

from __future__ import annotations

import atexit
import threading
from typing import Any

# Modules, not names: packs and preparation use the state at call time, so the import cycle
# (process -> packs -> preparation -> process) is only one of modules.
from . import markers, packs, workflow
from .aws import AwsClients
from .settings import ExecutorSettings
from .wakeups import WakeQueue


class ProcessState:
    """The process-wide state of the executor; ``state()`` returns the one instance."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything: the next task starts as the first of a new process would."""
        with self._guard:
            self._clients: dict[tuple[str, str, str, str], AwsClients] = {}
            self.image_uris: dict[tuple[str, str, str], str] = {}
            self.checked_buckets: set[tuple[int, str]] = set()
            self.checked_machines: set[str] = set()
            self._prepare_locks: dict[tuple[Any, ...], threading.Lock] = {}
            self.definition_gate = workflow.DefinitionGate()
            self._wake_queues: dict[int, WakeQueue] = {}
            self.markers = markers.MarkerWatcher()
            self.packs: packs.Gatherer[packs.Member, packs.Packed | None] = packs.Gatherer()
            # Whether each state machine runs packs (contract.py): when asked, and the answer.
            self.pack_contracts: dict[str, tuple[float, bool]] = {}
            self.pack_contract_warnings: set[str] = set()

    def clients_for(self, settings: ExecutorSettings) -> AwsClients:
        """The clients for these settings' credentials, region and endpoint (made once)."""
        key = (settings.credentials, settings.profile, settings.region, settings.endpoint_url)
        with self._guard:
            if key not in self._clients:
                self._clients[key] = AwsClients(*key)
            return self._clients[key]

    def wake_queue(self, clients: AwsClients) -> WakeQueue:
        """The process's wake-up queue for these clients (opened on its first URL)."""
        with self._guard:
            if id(clients) not in self._wake_queues:
                self._wake_queues[id(clients)] = WakeQueue(clients)
            return self._wake_queues[id(clients)]

    def close_wake_queues(self) -> None:
        """Delete this process's queues (at exit: nothing is left waiting on them)."""
        with self._guard:
            queues = list(self._wake_queues.values())
        for queue in queues:
            queue.close()

    def prepare_lock(self, key: tuple[Any, ...]) -> threading.Lock:
        """One lock per key, so that the first tasks of a dispatch prepare once, not once each."""
        with self._guard:
            return self._prepare_locks.setdefault(key, threading.Lock())


_state: ProcessState | None = None
_state_lock = threading.Lock()


def state() -> ProcessState:
    """This process's state (made on first use, once its modules are all imported)."""
    global _state
    with _state_lock:
        if _state is None:
            _state = ProcessState()
            atexit.register(lambda: state().close_wake_queues())
        return _state
