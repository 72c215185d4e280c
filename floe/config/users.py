"""The `users` of `common`: named accounts with a hashed password and a role."""

from __future__ import annotations

import re
from dataclasses import dataclass

from floe.config.reader import Section

ROLES = ("viewer", "operator", "admin")
USER_KEYS = frozenset({"name", "password", "role"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
HASH_PREFIX = "scrypt$"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password: str  # a hash made by `floe hash-password`, never the password itself
    role: str = "viewer"


def parse_users(sec: Section) -> tuple[User, ...]:
    users: list[User] = []
    seen: set[str] = set()
    for _, u in sec.sections("users"):
        u.check_keys(USER_KEYS, "a user")
        name, password = u.string("name") or "", u.string("password") or ""
        role = u.choice("role", ROLES) or "viewer"
        if not _NAME.match(name):
            u.error("name", f"user name {name!r} must be 1-64 letters, digits or ._@-")
            continue
        if name == "admin":
            u.error("name", "admin is the admin token's user: choose another name")
            continue
        if name in seen:
            u.error("name", f"user {name} is defined twice")
            continue
        if not password.startswith(HASH_PREFIX):
            u.error("password", "must be a hash made by `floe hash-password`, never the password itself")
            continue
        seen.add(name)
        users.append(User(name, password, role))
    return tuple(users)
