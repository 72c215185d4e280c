"""What the request handlers share: the hub, the sessions and the host's settings."""

from __future__ import annotations

from dataclasses import dataclass

from floe.hub.hub import Hub
from floe.server.auth import Sessions


@dataclass(frozen=True, slots=True)
class Context:
    hub: Hub
    sessions: Sessions
    admin_token: str
    address: str  # this host's base address, e.g. http://127.0.0.1:8080
