"""The read side of a hub: the runs it holds, and what its store says of the others (its archive,
the runs it handed to another host). Nothing here goes through the queue."""

from __future__ import annotations

from collections.abc import Mapping

from floe.hub.records import Unreadable, listed_run, stored_run
from floe.model.host import HostState
from floe.model.run import Run
from floe.store.base import RunStore


class StoredRuns:
    """What the Hub answers from its state and its store, without asking its consumer."""

    state: HostState
    store: RunStore

    @property
    def runs(self) -> Mapping[str, Run]:
        """The pending and active runs held by this host."""
        return self.state.runs

    @property
    def counts(self) -> Mapping[tuple[str, str], int]:
        """(flow, status) -> runs ended here, for metrics."""
        return self.state.counts

    async def archive(self, flow_id: str, limit: int, before: float | None) -> list[Run | Unreadable]:
        """A page of the flow's archive; a run whose record cannot be read is in it as Unreadable."""
        docs = await self.store.list_runs(phase="archive", flow=flow_id, limit=limit, before=before)
        return [listed_run(d) for d in docs]

    async def elsewhere(self, flow_id: str) -> list[Run]:
        """On the store a cluster shares (postgres, placement by claims): the flow's pending and
        active runs that other hosts hold, as stored; [] on a store of this host's own."""
        if not self.state.claims:
            return []
        docs = [
            *await self.store.list_runs(phase="pending", flow=flow_id),
            *await self.store.list_runs(phase="active", flow=flow_id),
        ]
        return [r for r in map(listed_run, docs) if isinstance(r, Run) and r.run_id not in self.runs]

    async def lookup(self, run_id: str) -> tuple[Run | None, bool]:
        """The run as this host knows it, and whether it was handed to another host (then the run
        is as last known here, and its `exec_host` is where it went)."""
        if run_id in self.runs:
            return self.runs[run_id], False
        doc = await self.store.get_run(run_id)  # DamagedRecord when it cannot be read
        return (stored_run(doc), doc["phase"] == "moved") if doc else (None, False)

    async def find(self, run_id: str) -> Run | None:
        """A run this host holds or has archived (not one it handed to another host)."""
        run, moved = await self.lookup(run_id)
        return None if moved else run

    async def moved(self, flow_id: str | None = None) -> list[Run]:
        """Runs this host adopted and handed to another host, as last known here."""
        listed = [listed_run(d) for d in await self.store.list_runs(phase="moved", flow=flow_id)]
        return [r for r in listed if isinstance(r, Run)]

    async def mark_moved_ended(self, run_id: str, status: str, ended: float) -> None:
        """The host we handed a run to says it ended: keep that in our moved record."""
        doc = await self.store.get_run(run_id)
        if doc and doc["phase"] == "moved":
            self.store.put_run({**doc, "status": status, "ended": ended})
