"""The hub's controls as the API sees them: the stop switch and the audit trail. Their changes
reach the host reducer as messages (Halt, Resume, Record); the state they show is its state."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from floe.model.host import AUDIT, HostState
from floe.model.messages import Halt, Message, Record, Resume
from floe.store.base import RunStore


class StopSwitch:
    """Dispatch halted for all flows ("*"), one flow, or by the stop file, each with its reason."""

    def __init__(self, tell: Callable[[Message], None], state: Callable[[], HostState]) -> None:
        self.tell, self.state = tell, state

    def stop(self, scope: str, reason: str) -> None:
        """Halt dispatch of one flow (or "*": all); pending runs wait with the reason."""
        self.tell(Halt(scope, reason))

    def go(self, scope: str) -> None:
        self.tell(Resume(scope))

    @property
    def stopped(self) -> Mapping[str, str]:
        return self.state().stopped


class AuditTrail:
    """Who did what, when, on this host: an append-only stream in the store."""

    def __init__(self, store: RunStore, tell: Callable[[Message], None]) -> None:
        self.store, self.tell = store, tell

    def record(self, by: str, action: str, flow: str = "", run_id: str = "", detail: str = "") -> None:
        self.tell(Record(by, action, flow, run_id, detail))

    async def entries(self, after: int = 0) -> list[dict[str, Any]]:
        return [dict(e["opts"]) for e in await self.store.events(AUDIT, after)]
