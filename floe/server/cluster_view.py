"""Answers for the whole cluster: run lists gathered from every host in parallel, and finding the
host that executes a run. A host that does not answer in time makes the answer partial, never late."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from floe.cluster.client import PeerError
from floe.cluster.peers import Peer
from floe.hub.hub import Hub
from floe.hub.records import Unreadable
from floe.model.run import Run, RunStatus
from floe.server.views import run_detail, run_summary, unreadable_summary

GATHER_TIMEOUT = 2.0


async def local_runs(hub: Hub, flow_id: str, limit: int, before: float | None) -> dict[str, Any]:
    """This host's own pending, active and archived runs of a flow, newest first."""
    held = sorted((r for r in hub.runs.values() if r.flow.id == flow_id), key=lambda r: -r.created)
    archive = await hub.archive(flow_id, limit, before)
    return {
        "pending": [run_summary(r) for r in held if r.status is RunStatus.PENDING],
        "active": [run_summary(r) for r in held if r.status is not RunStatus.PENDING],
        "archive": [unreadable_summary(r) if isinstance(r, Unreadable) else run_summary(r) for r in archive],
    }


async def cluster_runs(hub: Hub, flow_id: str, limit: int, before: float | None) -> dict[str, Any]:
    mine = await local_runs(hub, flow_id, limit, before)
    got, missing = await hub.cluster.gather(
        lambda p: p.client.runs(flow_id, limit, before, GATHER_TIMEOUT), timeout=GATHER_TIMEOUT
    )
    answered = {hub.host.id} | {p.id for p, _ in got}
    seen: dict[str, dict[str, Any]] = {}
    for part in (mine, *(doc for _, doc in got)):
        for key in ("pending", "active", "archive"):
            for s in part.get(key, []):
                seen.setdefault(s["run_id"], {**s, "_list": key})
    for r in await hub.moved(flow_id):
        if r.run_id in seen or r.status.ended or r.exec_host in answered:
            continue
        seen[r.run_id] = {
            **run_summary(r),
            "reason": f"exec host {r.exec_host} unreachable",
            "_list": "active",
        }
    out: dict[str, Any] = {"pending": [], "active": [], "archive": []}
    for s in sorted(seen.values(), key=lambda s: -s["created"]):
        out[s.pop("_list")].append(s)
    out["archive"] = out["archive"][:limit]
    out["next_before"] = out["archive"][-1]["created"] if len(out["archive"]) == limit else None
    out["partial"] = hub.cluster.unreachable(missing)
    return out


async def every_flow_runs(hub: Hub, limit: int, before: float | None) -> dict[str, Any]:
    """`cluster_runs` of every configured flow, merged: newest first, the archive paged the same way
    (each flow's newest `limit` before `before` holds the merged page's)."""
    parts = await asyncio.gather(*(cluster_runs(hub, f.id, limit, before) for f in hub.config.flows))
    out: dict[str, Any] = {}
    for key in ("pending", "active", "archive"):
        out[key] = sorted((s for p in parts for s in p[key]), key=lambda s: -s["created"])
    out["archive"] = out["archive"][:limit]
    out["next_before"] = out["archive"][-1]["created"] if len(out["archive"]) == limit else None
    out["partial"] = sorted({h for p in parts for h in p["partial"]})
    return out


@dataclass(frozen=True, slots=True)
class Located:
    """Where a run is: held here (`run`), on a peer (`peer` and its `detail`), or last known (`stale`);
    `unasked` names the hosts that could not be asked (when it was found nowhere, it may be there)."""

    run: Run | None = None
    peer: Peer | None = None
    detail: dict[str, Any] | None = None
    unasked: tuple[str, ...] = ()

    def missing(self, what: str) -> str:
        """`what` cannot be found: saying which hosts could not be asked, if any."""
        if not self.unasked:
            return what
        return f"{what} (host {', '.join(self.unasked)} could not be asked: it may be there)"

    def view(self) -> dict[str, Any] | None:
        return run_detail(self.run) if self.run is not None else self.detail


async def locate(hub: Hub, run_id: str) -> Located:
    known, moved = await hub.lookup(run_id)
    if known is not None and not moved:
        return Located(run=known)
    host = known.exec_host if known is not None else ""
    peers = [p for p in hub.cluster.online() if p.id == host] if host else hub.cluster.online()
    got, missing = await hub.cluster.gather(
        lambda p: p.client.run(run_id, GATHER_TIMEOUT), peers, GATHER_TIMEOUT
    )
    for peer, detail in got:
        if detail is not None:
            return Located(peer=peer, detail=detail)
    run = await hub.find(run_id)  # it may have been handed to us while we asked around
    if run is not None:
        return Located(run=run)
    if known is not None:  # handed to a host that does not answer: say what we last knew
        stale = run_detail(known)
        return Located(detail={**stale, "reason": f"exec host {host} unreachable", "partial": [host]})
    return Located(unasked=tuple(hub.cluster.unreachable(missing)))


async def peer_call(peer: Peer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """A forwarded request; an unreachable peer is a 502 with the reason."""
    try:
        return await peer.client.call(method, path, body, ok=(200, 202, 400, 404, 409, 503))
    except PeerError as e:
        return 502, {"error": f"exec host {peer.id} unreachable: {e}"}
