"""Answers for the whole cluster: run lists gathered from every host in parallel, and finding the
host that executes a run. A host that does not answer in time makes the answer partial, never late."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from floe.cluster.client import PeerError
from floe.cluster.peers import Peer
from floe.hub.hub import Hub
from floe.hub.records import Unreadable
from floe.model.run import Run, RunStatus
from floe.server.context import Context
from floe.server.views import run_detail, run_summary, unreadable_summary

GATHER_TIMEOUT = 2.0
Caller = tuple[str, str]  # the user and role a request came from, for the peers asked on its behalf


async def local_runs(hub: Hub, flow_id: str, limit: int, before: float | None) -> dict[str, Any]:
    """This host's own pending, active and archived runs of a flow, newest first (on a store the
    cluster shares, every host's pending and active runs)."""
    held = [r for r in hub.runs.values() if r.flow.id == flow_id] + await hub.elsewhere(flow_id)
    held.sort(key=lambda r: -r.created)
    archive = await hub.archive(flow_id, limit, before)
    return {
        "pending": [run_summary(r) for r in held if r.status is RunStatus.PENDING],
        "active": [run_summary(r) for r in held if r.status is not RunStatus.PENDING],
        "archive": [unreadable_summary(r) if isinstance(r, Unreadable) else run_summary(r) for r in archive],
    }


async def cluster_runs(
    c: Context, flow_id: str, limit: int, before: float | None, caller: Caller, *, here_only: bool = False
) -> dict[str, Any]:
    """The runs of a flow on every host (with `here_only`, on this one: a peer asked for its part)."""
    hub = c.hub
    mine = await local_runs(hub, flow_id, limit, before)
    if here_only:  # what this host holds, without what it handed to others
        return {**mine, "next_before": _next(mine["archive"], limit), "partial": []}
    query = urlencode({"limit": limit, **({"before": before} if before is not None else {})})
    path = f"/flows/{flow_id}/runs?{query}"
    got, missing = await c.cluster.gather(
        lambda p: p.client.ask("GET", path, *caller), timeout=GATHER_TIMEOUT
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
    out["next_before"] = _next(out["archive"], limit)
    out["partial"] = c.cluster.unreachable(missing)
    return out


def _next(archive: list[dict[str, Any]], limit: int) -> float | None:
    """The `before` of the next page: the created time of a full page's last run."""
    return float(archive[-1]["created"]) if len(archive) == limit else None


async def every_flow_runs(
    c: Context, limit: int, before: float | None, caller: Caller, *, here_only: bool = False
) -> dict[str, Any]:
    """`cluster_runs` of every configured flow, merged: newest first, the archive paged the same way
    (each flow's newest `limit` before `before` holds the merged page's)."""
    parts = await asyncio.gather(
        *(cluster_runs(c, f.id, limit, before, caller, here_only=here_only) for f in c.config().flows)
    )
    out: dict[str, Any] = {}
    for key in ("pending", "active", "archive"):
        out[key] = sorted((s for p in parts for s in p[key]), key=lambda s: -s["created"])
    out["archive"] = out["archive"][:limit]
    out["next_before"] = _next(out["archive"], limit)
    out["partial"] = sorted({h for p in parts for h in p["partial"]})
    return out


@dataclass(frozen=True, slots=True)
class Located:
    """Where a run is: held here (`run`), on a peer (`peer` and its `detail`, or on the postgres store
    the `run` as the database has it), or last known (`stale`);
    `unasked` names the hosts that could not be asked (when it was found nowhere, it may be there);
    `lost` the host holding `run` whose lease ran out (postgres: a live host takes its runs over)."""

    run: Run | None = None
    peer: Peer | None = None
    detail: dict[str, Any] | None = None
    unasked: tuple[str, ...] = ()
    lost: str = ""

    def missing(self, what: str) -> str:
        """`what` cannot be found: saying which hosts could not be asked, if any."""
        if not self.unasked:
            return what
        return f"{what} (host {', '.join(self.unasked)} could not be asked: it may be there)"

    def view(self) -> dict[str, Any] | None:
        return run_detail(self.run) if self.run is not None else self.detail


async def _detail(peer: Peer, run_id: str, caller: Caller) -> dict[str, Any] | None:
    """The peer's detail of the run, None when it does not hold it; PeerError when it cannot say."""
    path = f"{peer.client.base}/runs/{run_id}"
    r = await peer.client.forward("GET", path, *caller, timeout=GATHER_TIMEOUT)
    if r.status_code == 404:
        return None
    if r.status_code != 200:
        raise PeerError(f"{peer.address}: HTTP {r.status_code} {r.text[:200]}")
    return dict(r.json())


async def locate(c: Context, run_id: str, caller: Caller, *, here_only: bool = False) -> Located:
    """Where run `run_id` is (with `here_only`, only if this host holds it: a peer asking)."""
    hub = c.hub
    if here_only:
        return Located(run=await hub.find(run_id))
    known, moved = await hub.lookup(run_id)
    if known is not None and not moved:
        if hub.link is not None and run_id not in hub.runs and not known.status.ended:
            return await _held_elsewhere(c, known)
        return Located(run=known)
    host = known.exec_host if known is not None else ""
    peers = [p for p in c.cluster.online() if p.id == host] if host else c.cluster.online()
    got, missing = await c.cluster.gather(lambda p: _detail(p, run_id, caller), peers, GATHER_TIMEOUT)
    for peer, detail in got:
        if detail is not None:
            return Located(peer=peer, detail=detail)
    run = await hub.find(run_id)  # it may have been handed to us while we asked around
    if run is not None:
        return Located(run=run)
    if known is not None:  # handed to a host that does not answer: say what we last knew
        stale = run_detail(known)
        return Located(detail={**stale, "reason": f"exec host {host} unreachable", "partial": [host]})
    return Located(unasked=tuple(c.cluster.unreachable(missing)))


async def _held_elsewhere(c: Context, run: Run) -> Located:
    """On the postgres store, a live run this host does not hold, as the database has it: held by
    the host it is placed on, or (a pend) by the host that made it. With that host's peer while
    its lease is live; else `lost` names it (its lease ran out: a live host takes its runs over)."""
    assert c.hub.link is not None
    host = await c.hub.link.placed_on(run.run_id)
    if not host and run.status is RunStatus.PENDING:
        host = run.run_id.rpartition("-")[0]  # a pend is held by the host that adopted it
    if not host or host == c.hub.host.id:
        return Located(run=run)
    peer = await c.cluster.reach(host)
    if peer is None:
        return Located(run=run, lost=host)
    return Located(run=run, peer=peer)
