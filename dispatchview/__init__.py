"""A read-only view of a dispatch from what AWS recorded: ``eventbatch status`` and ``logs``.

``reads`` asks AWS (S3 objects and markers, Step Functions executions, Batch jobs), ``rows``
turns that into one row per electron, ``render`` and ``watch`` show it, ``logs`` prints an
electron's CloudWatch log, ``pricing`` estimates dollars. It uses the executor's settings,
clients and layout; the executor never imports it.
"""
