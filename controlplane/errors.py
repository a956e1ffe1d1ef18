"""The control plane tooling's exception (``eventbatch deploy``)."""

from __future__ import annotations

from covalent_eventbatch.executor.errors import EventBatchError


class DeployError(EventBatchError):
    """Packaging or the stack deployment failed; the message says where and why."""
