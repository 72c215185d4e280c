"""The lock host's table of resource-tag reservations: one run holds a tag cluster-wide."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from floe.store.base import RunStore

KEY = "locks"


@dataclass(frozen=True, slots=True)
class Reservation:
    run_id: str
    host: str
    tags: tuple[str, ...]
    at: float = 0.0  # when it was taken


class Locks:
    """Held by the first host of `common.hosts` (or a lone host); kept in its store, so a restart
    keeps every reservation until its run is known to have ended."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.held: dict[str, Reservation] = {}

    async def load(self) -> None:
        for d in await self.store.get_kv(KEY) or []:
            r = Reservation(d["run_id"], d["host"], tuple(d["tags"]), float(d.get("at", 0)))
            self.held[r.run_id] = r

    def _save(self) -> None:
        doc: list[dict[str, Any]] = [
            {"run_id": r.run_id, "host": r.host, "tags": list(r.tags), "at": r.at} for r in self.held.values()
        ]
        self.store.put_kv(KEY, doc)

    def holder(self, tags: Iterable[str], run_id: str) -> str:
        """Why `run_id` cannot have `tags` now, or "" when it can."""
        want = set(tags)
        for r in self.held.values():
            shared = want & set(r.tags)
            if shared and r.run_id != run_id:
                return f"resource {', '.join(sorted(shared))} held by run {r.run_id}"
        return ""

    def acquire(self, run_id: str, host: str, tags: Iterable[str], now: float = 0.0) -> str:
        """Reserve `tags` for the run (idempotent per run): "" on success, else the reason."""
        tags = tuple(sorted(set(tags)))
        if not tags:
            return ""
        why = self.holder(tags, run_id)
        if why:
            return why
        if run_id not in self.held:
            self.held[run_id] = Reservation(run_id, host, tags, now or time.time())
        self._save()
        return ""

    def release(self, run_id: str) -> None:
        if self.held.pop(run_id, None) is not None:
            self._save()

    def reconcile(self, host: str, active: set[str], older_than: float) -> list[str]:
        """Drop `host`'s reservations taken before `older_than` whose runs it no longer has active
        (a release lost with a host that died and came back). Returns the run ids dropped."""
        stale = [
            r.run_id
            for r in self.held.values()
            if r.host == host and r.at < older_than and r.run_id not in active
        ]
        for run_id in stale:
            self.release(run_id)
        return stale
