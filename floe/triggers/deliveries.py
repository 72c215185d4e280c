"""Webhook deliveries already turned into runs: each trigger's recent delivery ids, kept in the store."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from floe.store.base import RunStore
from floe.triggers.status import TriggerKey

# the delivery id headers of GitHub, Gitea (and Gogs) and GitLab; a redelivery repeats its id
HEADERS = ("x-github-delivery", "x-gitea-delivery", "x-gogs-delivery", "x-gitlab-event-uuid")
KEEP = 1_000  # delivery ids remembered per trigger (the newest)
RETENTION = 7 * 24 * 3600.0  # seconds a delivery id is remembered (GitHub redelivers up to 3 days back)
MAX_ID = 200  # longer ids are not a forge's: they are not remembered


def delivery_id(headers: Mapping[str, str]) -> str:
    """The delivery id of a request (`headers` with lower-case names), "" when it names none."""
    for name in HEADERS:
        value = headers.get(name, "").strip()
        if value and len(value) <= MAX_ID:
            return value
    return ""


class Deliveries:
    """The run each recent delivery of a trigger started: one store kv document per trigger,
    `{delivery id: [run id, when]}`, pruned to RETENTION and KEEP on every write. `lock(key)`
    serializes one trigger's deliveries, so a delivery sent twice at once starts one run."""

    def __init__(self, store: RunStore, clock: Callable[[], float]) -> None:
        self.store, self.clock = store, clock
        self._locks: dict[TriggerKey, asyncio.Lock] = {}

    def lock(self, key: TriggerKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    async def _known(self, key: TriggerKey) -> dict[str, tuple[str, float]]:
        raw = await self.store.get_kv(key.state_key("webhook-deliveries")) or {}
        return {d: (str(run_id), float(at)) for d, (run_id, at) in raw.items()}

    async def run_of(self, key: TriggerKey, delivery: str) -> str | None:
        """The run that `delivery` of this trigger started, if it is remembered."""
        seen = (await self._known(key)).get(delivery)
        return seen[0] if seen else None

    async def remember(self, key: TriggerKey, delivery: str, run_id: str) -> None:
        """Keep that `delivery` started `run_id`, durably (it is flushed before this returns)."""
        now = self.clock()
        known = {d: seen for d, seen in (await self._known(key)).items() if now - seen[1] < RETENTION}
        known[delivery] = (run_id, now)
        newest = sorted(known.items(), key=lambda item: item[1][1])[-KEEP:]
        self.store.put_kv(key.state_key("webhook-deliveries"), {d: list(seen) for d, seen in newest})
        await self.store.flush()
