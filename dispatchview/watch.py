"""Follow a dispatch live: the status table, refreshed in place until every electron has ended.

Used by ``eventbatch status --watch`` and by the demo. The dispatch counts as ended when every
electron known so far has ended and, if Covalent's dispatcher answers, it says the dispatch
finished (electrons that wait on others are sent to AWS only later).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.console import Console, RenderableType
from rich.live import Live
from rich.text import Text

from covalent_eventbatch.executor.settings import ExecutorSettings

from .dispatcher import CovalentDispatch
from .reads import DispatchReader, UnknownDispatchError
from .render import table
from .rows import DispatchStatus, dispatch_status


def current_status(
    reader: DispatchReader, settings: ExecutorSettings, covalent: CovalentDispatch
) -> DispatchStatus:
    snapshot = reader.snapshot()
    return dispatch_status(snapshot, settings, covalent.names_for(snapshot.nodes))


def watch(
    reader: DispatchReader,
    settings: ExecutorSettings,
    covalent: CovalentDispatch,
    console: Console | None = None,
    interval: float = 2.0,
    limit_s: float | None = None,
    sleep: Callable[[float], object] = time.sleep,
) -> DispatchStatus | None:
    """Refresh until the dispatch has ended (or ``limit_s`` passed); return the last status.

    A dispatch with no electron on AWS yet is waited for while Covalent's dispatcher says it
    runs; without a dispatcher to ask, that is an unknown dispatch.
    """
    started = time.monotonic()
    status: DispatchStatus | None = None
    # The process's stdout and stderr stay its own: other threads may print (or capture) too.
    with Live(
        Text(""),
        console=console,
        auto_refresh=False,
        redirect_stdout=False,
        redirect_stderr=False,
    ) as live:
        while True:
            view: RenderableType
            try:
                status = current_status(reader, settings, covalent)
                view = table(status)
            except UnknownDispatchError:
                if covalent.finished() is not False:
                    raise
                view = Text(f"dispatch {reader.dispatch_id}: no electron on AWS Batch yet")
            live.update(view, refresh=True)
            timed_out = limit_s is not None and time.monotonic() - started > limit_s
            if timed_out or (
                status is not None and status.all_ended and covalent.finished() is not False
            ):
                return status
            sleep(interval)
