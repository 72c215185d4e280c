"""What the request handlers share: the host's parts, the running config, the sessions, login
throttling and the host's settings."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from floe.cluster.peers import Cluster
from floe.config import HostConfig
from floe.hub.hub import Hub
from floe.hub.reload import Reloader
from floe.server.auth import Principal, Sessions
from floe.server.throttle import LoginThrottle
from floe.store.base import RunStore
from floe.triggers.service import Triggers


@dataclass(frozen=True, slots=True)
class Context:
    """Built by the composition root (`floe/host.py`), which hands the server each part it uses."""

    hub: Hub
    store: RunStore
    cluster: Cluster
    config: Callable[[], HostConfig]  # the running config (a reload replaces it)
    sessions: Sessions
    admin_token: str
    address: str  # this host's base address, e.g. http://127.0.0.1:8080
    triggers: Triggers  # their status, webhook deliveries and "run now"
    reloader: Reloader
    logins: LoginThrottle = field(default_factory=LoginThrottle)


def ctx(conn: HTTPConnection) -> Context:
    c: Context = conn.app.state.floe
    return c


def principal(conn: HTTPConnection) -> Principal | None:
    """Who sent the request, as the auth middleware found (None on public routes)."""
    found: Principal | None = conn.scope.get("state", {}).get("principal")
    return found


def who(conn: HTTPConnection) -> str:
    """The user behind a request; a request forwarded by a peer names the user who sent it there."""
    p = principal(conn)
    return p.user if p is not None and p.user else "?"


def role(conn: HTTPConnection) -> str:
    p = principal(conn)
    return p.role if p is not None else ""


def forwarded(conn: HTTPConnection) -> bool:
    """A request a peer forwarded (floe/server/forward.py): answer for this host alone."""
    p = principal(conn)
    return p is not None and p.forwarded


def caller(conn: HTTPConnection) -> tuple[str, str]:
    """The user and role of a request, for what this host asks its peers on its behalf."""
    return who(conn), role(conn)
