"""The benchmark's task: sleep, and say when it started and ended (by the container's clock).

The container shares the host's kernel clock on the local stack, so the executor can subtract the
task's own end time from the moment run() returned: that is the completion-detection latency.
This module is pickled by value, so the runtime image needs nothing of the benchmarks.
"""

from __future__ import annotations


def timed_sleep(seconds: float) -> tuple[float, float]:
    import time

    start = time.time()
    time.sleep(seconds)
    return start, time.time()
