"""Which role each route needs, from the route table (floe/server/routes.py): viewers read,
operators run things, admins steer the cluster, and host-to-host routes take the admin token."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from starlette.routing import compile_path

from floe.model.gate import RANK

PEER = "peer"  # the admin token (or the admin's session): a host of the cluster
PUBLIC = "public"  # no credential (the handler may check one itself: webhooks)


class Roles:
    """The least role of each declared `(method, path, role)`, paths relative to the API base."""

    def __init__(self, rules: Iterable[tuple[str, str, str]]) -> None:
        self.rules: list[tuple[str, re.Pattern[str], str]] = [
            (method, compile_path(path)[0], role) for method, path, role in rules
        ]

    def needed(self, method: str, path: str) -> str:
        """The role `method path` needs; for no declared route (a page, an unknown path) viewer to
        read and admin to change anything: the safest default."""
        method = "GET" if method == "HEAD" else method
        for m, pattern, role in self.rules:
            if m == method and pattern.match(path):
                return role
        return "viewer" if method in ("GET", "OPTIONS") else "admin"

    def refusal(self, user: str, role: str, method: str, path: str) -> dict[str, Any] | None:
        """None when `user` with `role` may send `method path`, else the 403 answer's body."""
        need = self.needed(method, path)
        if need == PUBLIC:
            return None
        if need == PEER:
            if user == "admin" and role == "admin":
                return None
            return {"error": "host-to-host routes need the admin token", "role": "admin"}
        if RANK.get(role, -1) >= RANK[need]:
            return None
        return {"error": f"{user} ({role}) may not do this: it needs {need}", "role": need}
