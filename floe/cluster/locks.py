"""The lock host's table of resource-tag reservations: one run holds a tag cluster-wide."""

from __future__ import annotations

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


class Locks:
    """Held by the first host of `common.hosts` (or a lone host); kept in its store, so a restart
    keeps every reservation until its run is known to have ended."""

    def __init__(self, store: RunStore) -> None:
        self.store = store
        self.held: dict[str, Reservation] = {}

    async def load(self) -> None:
        for d in await self.store.get_kv(KEY) or []:
            r = Reservation(d["run_id"], d["host"], tuple(d["tags"]))
            self.held[r.run_id] = r

    def _save(self) -> None:
        doc: list[dict[str, Any]] = [
            {"run_id": r.run_id, "host": r.host, "tags": list(r.tags)} for r in self.held.values()
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

    def acquire(self, run_id: str, host: str, tags: Iterable[str]) -> str:
        """Reserve `tags` for the run (idempotent per run): "" on success, else the reason."""
        tags = tuple(sorted(set(tags)))
        if not tags:
            return ""
        why = self.holder(tags, run_id)
        if why:
            return why
        self.held[run_id] = Reservation(run_id, host, tags)
        self._save()
        return ""

    def release(self, run_id: str) -> None:
        if self.held.pop(run_id, None) is not None:
            self._save()

    def of_host(self, host: str) -> list[Reservation]:
        return [r for r in self.held.values() if r.host == host]
