"""Benchmarks: the event-driven executor against a polling executor on the local stack.

``python -m benchmarks.compare --help`` (or ``make bench``) runs both side by side. Nothing here
is part of the product; the polling executor exists only as the baseline to measure against.
"""

# "ours" submits each electron on its own (pack_window = 0); "packed" is the default, which
# gathers electrons arriving together into one array job; "polling" is the baseline.
EXECUTORS = ("ours", "packed", "polling")
# Long enough for 200 tasks queued on the local stack's few container slots, short enough that
# a job that never ends shows as an error instead of a benchmark that never ends.
DEFAULT_TASK_TIMEOUT_S = 1800.0
