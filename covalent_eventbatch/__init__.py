"""Event-driven AWS Batch executor for Covalent.

The installed import names live under this package, so that none of them is a top-level name
another PyPI project owns (``executor`` and ``statemachine`` are). In the repository each part
keeps its own top-level folder, and this package links to them:

    covalent_eventbatch.executor      executor/      the Covalent plugin (short name ``awsbatch``)
    covalent_eventbatch.statemachine  statemachine/  the Step Functions definition
    covalent_eventbatch.chalice_app   chalice_app/   the Lambda's handlers
    covalent_eventbatch.controlplane  controlplane/  ``eventbatch deploy`` and ``doctor``
    covalent_eventbatch.dispatchview  dispatchview/  ``eventbatch status`` and ``logs``
    covalent_eventbatch.localaws      localaws/      the local stack standing in for AWS
    covalent_eventbatch.cli           the ``eventbatch`` command
"""
