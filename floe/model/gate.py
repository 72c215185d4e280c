"""Data gates that decide: who may answer a gate (`resolvers`), and whether an answer approves (`decide`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from floe.model.flow import Node

RANK = {"viewer": 0, "operator": 1, "admin": 2}
APPROVE = ("approve", "approved", "yes")  # the values of a `decide` field that approve, by default


def may_answer(gate: Node, user: str, role: str) -> str:
    """Why `user` (with `role`) may not answer `gate` ("" when they may): with `resolvers`, only
    the users it names or those holding at least its role (either will do); the admin always may."""
    spec = gate.opts.get("resolvers")
    if not isinstance(spec, Mapping) or role == "admin":
        return ""
    users = [str(u) for u in spec.get("users") or ()]
    need = str(spec.get("role") or "")
    if user in users or (need and RANK.get(role, -1) >= RANK.get(need, 99)):
        return ""
    return f"only {resolvers(gate)} may answer {gate.id}"


def resolvers(gate: Node) -> str:
    """Who may answer `gate`, in words (`user rita or role admin or above`); "" when anyone may."""
    spec = gate.opts.get("resolvers")
    if not isinstance(spec, Mapping):
        return ""
    need = str(spec.get("role") or "")
    who = [*(f"user {u}" for u in spec.get("users") or ()), *([f"role {need} or above"] if need else [])]
    return " or ".join(who) or "an admin"


def approves(gate: Node, values: Mapping[str, Any]) -> bool:
    """Whether a complete answer takes the gate's good branch: always, unless it has `decide: FIELD`;
    then a bool field must be true, and any other the one of `approve` (default approve/approved/yes)."""
    field = gate.opts.get("decide")
    if not isinstance(field, str) or not field:
        return True
    value = values.get(field)
    if isinstance(value, bool):
        return value
    accept = gate.opts.get("approve")
    words = [str(a).lower() for a in accept] if isinstance(accept, list) else list(APPROVE)
    return str(value).strip().lower() in words
