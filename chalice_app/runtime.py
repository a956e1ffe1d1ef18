"""Which Lambda Python runtime the handlers are deployed with, whatever Python packages them.

Chalice takes the function's runtime from the interpreter it runs on (``python3.11`` on a 3.11
machine) and has no setting for it. AWS blocks creating python3.11 (and older) functions since
2026-07-31; python3.12 and python3.13 are supported into 2028-2029:
https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html

* ``chalice package --merge-template controlplane/control-plane.json`` (and ``eventbatch deploy``,
  which runs it): the merge template sets each function's ``Runtime`` to ``LAMBDA_RUNTIME``, so
  any interpreter may package.
* ``chalice deploy`` and ``chalice package`` without the merge template create the functions
  with the interpreter's runtime: ``refuse_unsupported_runtime`` (called by the root ``app.py``,
  which Chalice imports first) stops them on a Python older than 3.12, before anything is made.

Standard library only: the root ``app.py`` imports this in the Lambda too, where it does nothing.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

# The newest runtime AWS documents (deprecation 2029-06-30): the longest supported window.
LAMBDA_RUNTIME = "python3.13"
# The oldest Python whose runtime AWS still lets you create functions with.
OLDEST_CREATABLE = (3, 12)
MERGE_TEMPLATE_OPTION = "--merge-template"


def unsupported_runtime(argv: Sequence[str], version: tuple[int, int]) -> str | None:
    """Why this Chalice command would create a function AWS refuses, or None when it would not."""
    if not argv or os.path.basename(argv[0]) != "chalice" or version >= OLDEST_CREATABLE:
        return None
    args = list(argv[1:])
    creating = "deploy" in args or ("package" in args and MERGE_TEMPLATE_OPTION not in args)
    if not creating:
        return None
    interpreter = f"python{version[0]}.{version[1]}"
    return (
        f"Chalice would deploy the Lambda with runtime {interpreter} (it uses the Python it runs "
        f"on), and AWS no longer creates {interpreter} functions. Either run chalice from a "
        f"Python {OLDEST_CREATABLE[0]}.{OLDEST_CREATABLE[1]} or newer environment "
        "(python3.13 -m venv .venv-lambda && .venv-lambda/bin/pip install chalice), or deploy "
        "the whole control plane with 'eventbatch deploy' / 'chalice package --merge-template "
        f"controlplane/control-plane.json OUT', which set the runtime to {LAMBDA_RUNTIME}."
    )


def refuse_unsupported_runtime() -> None:
    """Stop a Chalice command that would create a function with a runtime AWS refuses."""
    reason = unsupported_runtime(sys.argv, (sys.version_info[0], sys.version_info[1]))
    if reason:
        raise SystemExit(f"Error: {reason}")
