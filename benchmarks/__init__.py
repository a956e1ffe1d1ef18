"""Benchmarks: the event-driven executor against a polling executor on the local stack.

``python -m benchmarks.compare --help`` (or ``make bench``) runs both side by side. Nothing here
is part of the product; the polling executor exists only as the baseline to measure against.
"""
