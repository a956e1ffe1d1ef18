"""Who called what on the local stack: every request moto serves, with its caller, to a file.

Used by the tests to hold each component to its IAM policy (``localaws/iamcheck/``). Each
component calls with credentials of its own, as on AWS: the executor as an IAM user with the
executor policy, the Lambda handlers, the task container and the state machine with temporary
credentials of their roles (``localaws/identities.py``). moto authenticates and authorizes every
request at one place (``ActionAuthenticatorMixin._authenticate_and_authorize_action``), before it
acts, where it knows the operation; this wraps that place and writes one JSON line per request:
the caller (from the access key id of its signature), the service, the operation, its parameters
and, for S3, the action and resource moto derived. Turning calls into IAM actions and resources
is left to the checker, which can be tested without a server.

Enabled in the moto server process by ``EVENTBATCH_CALL_LOG=FILE``; costs one short write per
request.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import Any

CALL_LOG_ENV = "EVENTBATCH_CALL_LOG"
_lock = threading.Lock()
_principals: dict[tuple[str, str], str] = {}
_applied = False


def _access_key(headers: Any) -> str:
    found = re.search(r"Credential=([^/,\s]+)/", headers.get("Authorization") or "")
    return found.group(1) if found else ""


def _scope(headers: Any) -> tuple[str, str]:
    """(region, service) of the request's signature."""
    found = re.search(r"Credential=[^/]+/\d+/([^/]+)/([^/]+)/", headers.get("Authorization") or "")
    return (found.group(1), found.group(2)) if found else ("", "")


def principal_of(account: str, key: str) -> str:
    """The ARN of the IAM user or role the access key belongs to, or 'key:KEY' if none."""
    cached = _principals.get((account, key))
    if cached:
        return cached
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    found = ""
    try:
        for user in iam_backends[account]["aws"].users.values():
            if any(k.access_key_id == key for k in user.access_keys):
                found = user.arn
                break
        if not found:
            assumed = sts_backends[account]["aws"].get_assumed_role_from_access_key(key)
            if assumed is not None:
                found = assumed.role_arn
    except Exception:  # an unknown account or key: reported as such
        found = ""
    if found:
        _principals[(account, key)] = found
    return found or f"key:{key}"


def _params(response: Any) -> Any:
    body = getattr(response, "body", None)
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    content_type = (response.headers.get("Content-Type") or "").lower()
    if body and ("json" in content_type or body.lstrip().startswith("{")):
        try:
            return json.loads(body)
        except ValueError:
            pass
    querystring = getattr(response, "querystring", None) or {}
    return {k: v[0] if isinstance(v, list) and len(v) == 1 else v for k, v in querystring.items()}


def record(response: Any, resource: str) -> dict[str, Any]:
    """The call as one JSON-able document (``response`` is moto's handler of the request)."""
    headers = response.headers
    region, service = _scope(headers)
    account = str(getattr(response, "current_account", ""))
    key = _access_key(headers)
    doc: dict[str, Any] = {
        "principal": principal_of(account, key),
        "account": account,
        "region": region,
        "service": service,
        "operation": response._get_action(),
        # Tells a tool's calls from the component's (the doctor names itself in it).
        "user_agent": headers.get("User-Agent") or "",
    }
    if service == "s3":
        # moto's S3 derives the IAM action and the resource itself.
        doc["s3_action"] = (getattr(response, "data", None) or {}).get("Action")
        doc["resource"] = resource
        doc["method"] = response.method
        body = getattr(response, "body", None)
        if doc["s3_action"] == "DeleteObject" and "delete" in (response.querystring or {}):
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
            doc["keys"] = re.findall(r"<Key>([^<]*)</Key>", text)
    else:
        doc["params"] = _params(response)
    return doc


def apply(path: str | None = None) -> bool:
    """Record every request to path (default: $EVENTBATCH_CALL_LOG); False when not enabled."""
    global _applied
    path = path or os.environ.get(CALL_LOG_ENV)
    if not path:
        return False
    if _applied:
        return True
    from moto.core.authorization import ActionAuthenticatorMixin

    original = ActionAuthenticatorMixin._authenticate_and_authorize_action

    def recording(self: Any, iam_request_cls: type, resource: str = "*") -> None:
        try:
            line = json.dumps(record(self, resource), default=str)
        except Exception as exc:  # never break the request; the checker reports the gap
            line = json.dumps({"principal": "unrecorded", "error": repr(exc)})
        with _lock, open(path, "a") as f:
            f.write(line + "\n")
        original(self, iam_request_cls, resource)

    ActionAuthenticatorMixin._authenticate_and_authorize_action = recording  # type: ignore[method-assign]
    _applied = True
    return True
