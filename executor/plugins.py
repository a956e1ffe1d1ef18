"""Other installed Covalent plugins that also register the executor ``awsbatch``.

Covalent imports every module of the entry point group ``covalent.executor.executor_plugins``,
names each executor after its module's last dotted part, and keeps the last one it loads under
that name (``covalent.executor._ExecutorManager``): with the original ``covalent-awsbatch-plugin``
installed too, both are ``awsbatch`` and one silently wins. The dispatcher rebuilds every
executor by that name, so even an ``AWSBatchExecutor`` of this package runs as the winner's class.
Both plugins' defaults also land in the one ``[executors.awsbatch]`` section of covalent.conf,
the first loaded writing its values. This module finds the rivals, in Covalent's loading order,
and says which one is used and how to switch.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass

GROUP = "covalent.executor.executor_plugins"
SHORT_NAME = "awsbatch"
OWN_DISTRIBUTION = "covalent-eventbatch-plugin"


@dataclass(frozen=True)
class Registration:
    """One installed distribution's plugin module that Covalent would name ``awsbatch``."""

    distribution: str
    version: str
    module: str

    @property
    def own(self) -> bool:
        return _normal(self.distribution) == _normal(OWN_DISTRIBUTION)

    def __str__(self) -> str:
        return f"{self.distribution} {self.version} ({self.module})"


def _normal(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def registrations(short_name: str = SHORT_NAME) -> list[Registration]:
    """Every installed plugin module Covalent names ``short_name``, in the order it loads them."""
    found = []
    # Covalent iterates this very call (_load_installed_plugins), so the order is its order.
    for entry in importlib.metadata.entry_points(group=GROUP):
        module = entry.value.split(":", 1)[0].strip()
        if module.rsplit(".", 1)[-1] != short_name:
            continue
        dist = entry.dist
        name = dist.metadata["Name"] if dist is not None else "an unknown distribution"
        version = dist.version if dist is not None else "?"
        found.append(Registration(name, version, module))
    return found


@dataclass(frozen=True)
class Rivalry:
    """Two or more plugins register ``awsbatch``; ``used`` is the one Covalent keeps."""

    registered: tuple[Registration, ...]
    used: Registration

    def message(self) -> str:
        names = " and ".join(str(r) for r in self.registered)
        others = " ".join(sorted({r.distribution for r in self.registered if not r.own}))
        uninstall = (
            f"pip uninstall {others}, then restart Covalent (covalent restart); the "
            f"[executors.{SHORT_NAME}] settings stay in covalent.conf and carry over."
        )
        if self.used.own:
            switch = (
                "That order follows the installed packages' metadata and may change when one is "
                f"reinstalled. To keep {OWN_DISTRIBUTION}: {uninstall}"
            )
        else:
            switch = (
                f"To use {OWN_DISTRIBUTION} instead: {uninstall} To keep "
                f"{self.used.distribution}: pip uninstall {OWN_DISTRIBUTION}."
            )
        return (
            f"Covalent finds {len(self.registered)} executor plugins named '{SHORT_NAME}': "
            f"{names}. It uses the one it loads last, {self.used.distribution}, for "
            f"executor='{SHORT_NAME}' and for every AWSBatchExecutor (the dispatcher rebuilds "
            f"executors by that name). {switch}"
        )


def rivalry(loaded_module: str | None = None) -> Rivalry | None:
    """The rivalry for ``awsbatch``, or None when one plugin alone registers it.

    ``loaded_module``: the module Covalent actually holds under the name, when known (after
    Covalent has loaded its plugins); otherwise the last in loading order.
    """
    found = registrations()
    if len(found) < 2:
        return None
    used = next((r for r in found if r.module == loaded_module), found[-1])
    return Rivalry(tuple(found), used)
