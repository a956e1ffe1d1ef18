"""Check recorded AWS calls against their callers' IAM policies, resources included.

moto can enforce IAM on actions, but outside S3 it matches every request's resource against
"*". So the local stack records each request with its caller (``localaws/callrecorder.py``), and
this module turns each into what AWS authorizes — IAM actions on resource ARNs built from the
request's parameters, as AWS's Service Authorization Reference lists them, plus the extra
authorizations some calls imply (``iam:PassRole`` for the roles a job definition names,
``batch:TagResource`` for tags given at creation) — and evaluates them against the caller's
policies as IAM does (an explicit Deny wins; actions match case-insensitively, resources
case-sensitively, with ``*`` and ``?`` wildcards).

A call this module cannot map fails too: an unmapped call is an unchecked one.

``evaluation`` (IAM's rules), ``actions`` (each API call -> the action and resource it needs),
``report`` (the check and what it says) and ``documents`` (reading policies from IAM).
"""

from .actions import canonical, needs
from .documents import all_principals, document, principal_policies
from .evaluation import Need, evaluate, listed, statement_applies
from .report import Report, Verdict, check, describe, read_calls, unused

__all__ = [
    "Need",
    "Report",
    "Verdict",
    "all_principals",
    "canonical",
    "check",
    "describe",
    "document",
    "evaluate",
    "listed",
    "needs",
    "principal_policies",
    "read_calls",
    "statement_applies",
    "unused",
]
