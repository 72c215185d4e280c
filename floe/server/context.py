"""What the request handlers share: the hub, the sessions, login throttling and the host's settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from floe.hub.hub import Hub
from floe.server.auth import Sessions
from floe.server.throttle import LoginThrottle


@dataclass(frozen=True, slots=True)
class Context:
    hub: Hub
    sessions: Sessions
    admin_token: str
    address: str  # this host's base address, e.g. http://127.0.0.1:8080
    logins: LoginThrottle = field(default_factory=LoginThrottle)
