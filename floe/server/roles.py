"""Which role each route needs: viewers read, operators run things, admins steer the cluster."""

from __future__ import annotations

import re

from floe.model.gate import RANK

_ADMIN = ("/stop", "/go", "/config/reload", "/retention/run")
_OPERATOR_POSTS = ("/push/data", "/cancel", "/rerun")  # and POST /runs, when the config allows it
_RUN_NOW = re.compile(r"/flows/[^/]+/triggers/[^/]+/run")


def needed(method: str, path: str) -> str:
    """The least role for `method path` (a path relative to the API base, or a page)."""
    if path.startswith("/p2p/") or path == "/p2p":
        return "admin"  # host-to-host: the admin token only
    if method in ("GET", "HEAD", "OPTIONS"):
        return "viewer"
    if path in _ADMIN:
        return "admin"
    if _RUN_NOW.fullmatch(path):
        return "operator"
    if path == "/runs":
        return "operator"  # the handler also checks common.posted-flows
    if path in ("/login", "/logout") or path.endswith(_OPERATOR_POSTS) or path.startswith("/push/"):
        return "viewer" if path in ("/login", "/logout") else "operator"
    return "admin"  # anything new that changes state: the safest default


def allows(role: str, method: str, path: str) -> bool:
    return RANK.get(role, -1) >= RANK[needed(method, path)]
