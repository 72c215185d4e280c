"""The hub's controls kept in the store: the stop switch and the audit trail."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from floe.store.base import RunStore

log = logging.getLogger(__name__)

STOP_FILE = "stop-file"  # the stop switch's scope while the stop file exists
AUDIT = "_audit"  # the stream of audit entries among the store's events


class StopSwitch:
    """Dispatch halted for all flows ("*"), one flow, or by the stop file, each with its reason."""

    def __init__(self, store: RunStore, wake: Callable[[], None]) -> None:
        self.store, self.wake = store, wake
        self.stopped: dict[str, str] = {}

    async def load(self) -> None:
        self.stopped = dict(await self.store.get_kv("stop") or {})

    def stop(self, scope: str, reason: str) -> None:
        """Halt dispatch of one flow (or "*": all); pending runs wait with the reason."""
        self.stopped[scope] = reason
        self.store.put_kv("stop", self.stopped)
        log.warning("dispatch stopped for %s: %s", "every flow" if scope == "*" else scope, reason)
        self.wake()

    def go(self, scope: str) -> None:
        if self.stopped.pop(scope, None) is not None:
            self.store.put_kv("stop", self.stopped)
            log.warning("dispatch resumed for %s", "every flow" if scope == "*" else scope)
        self.wake()

    def reason(self, flow_id: str) -> str:
        """Why dispatch of the flow is stopped ("" when it is not): the stop file, all flows, or it."""
        for scope in (STOP_FILE, "*", flow_id):
            if scope in self.stopped:
                return f"dispatch stopped: {self.stopped[scope]}"
        return ""


class AuditTrail:
    """Who did what, when, on this host: an append-only stream in the store."""

    def __init__(self, store: RunStore, host: str, clock: Callable[[], float]) -> None:
        self.store, self.host, self.clock = store, host, clock
        self.seq = 0

    async def load(self) -> None:
        self.seq = int(await self.store.get_kv("audit-seq") or 0)

    def record(
        self, by: str, action: str, flow: str = "", run_id: str = "", detail: str = ""
    ) -> dict[str, Any]:
        """Add an entry and return it."""
        self.seq += 1
        entry = {
            "at": self.clock(),
            "by": by or "?",
            "action": action,
            "flow": flow,
            "run_id": run_id,
            "detail": detail,
            "host": self.host,
            "seq": self.seq,
        }
        self.store.put_kv("audit-seq", self.seq)
        event = {"run_id": AUDIT, "flow": flow, "seq": self.seq, "tag": "audit", "source_node": ""}
        self.store.append_event({**event, "good": True, "opts": entry, "at": entry["at"]})
        log.info("audit: %s %s %s %s", entry["by"], action, run_id or flow, detail)
        return entry

    async def entries(self, after: int = 0) -> list[dict[str, Any]]:
        return [dict(e["opts"]) for e in await self.store.events(AUDIT, after)]
