"""A host's start: what the store holds of its runs and counters, and the processes that its
interrupted tasks left running, killed; the host reducer then decides what resumes."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

from floe.hub.records import Unreadable, listed_run
from floe.hub.runner import workspace_path
from floe.model.host import audit_key
from floe.model.mask import Masker
from floe.model.messages import Recovered
from floe.model.run import NodeStatus, Run
from floe.nodes import leftovers
from floe.store.base import RunStore

log = logging.getLogger(__name__)


async def recovered(
    store: RunStore, host: str, last_id: int, root: Path, masker: Masker, claims: bool = False
) -> Recovered:
    """The pending runs (with `claims`, placement through the cluster's database, only those this
    host made: any host claims the others), this host's active runs (with the seq of their last
    stored event), lines about leftover processes killed, the stop switch and the audit and id
    counters."""
    pending = tuple(reversed(readable(await store.list_runs(phase="pending"))))
    if claims:
        pending = tuple(r for r in pending if r.run_id.rpartition("-")[0] == host)
    active: list[Run] = []
    for run in readable(await store.list_runs(phase="active")):
        if run.exec_host != host:
            continue
        later = await store.events(run.run_id, run.seq)  # a busy run's document lags its events
        active.append(replace(run, seq=max(e["seq"] for e in later)) if later else run)
    if claims:
        await _kill_resolved_elsewhere(root, {r.run_id for r in active})
    return Recovered(
        pending,
        tuple(active),
        await _kill_leftovers(active, root, masker),
        dict(await store.get_kv("stop") or {}),
        int(await store.get_kv(audit_key(host, claims)) or await store.get_kv("audit-seq") or 0),
        last_id,
    )


async def _kill_resolved_elsewhere(root: Path, active: set[str]) -> None:
    """On the cluster's database, a host that comes back after its lease expired finds its runs
    resolved by the survivor: kill what their tasks left running, found by the runs' workspaces
    on this host's disk (a run of a `reuse-space` flow is found among the active ones only)."""
    for left in await asyncio.to_thread(_kill_in_workspaces, root, active):
        log.warning(
            "<%s> killed process %d left running by %s (the run was resolved while this host was away): %s",
            left.run_id,
            left.pid,
            left.node_id,
            left.command,
        )


def _kill_in_workspaces(root: Path, active: set[str]) -> list[leftovers.Leftover]:
    spaces = {
        ws.name: ws
        for ws in root.glob("spaces/*/ws/*")
        if ws.is_dir() and ws.name != "single" and ws.name not in active
    }
    return leftovers.kill(spaces)


def readable(docs: list[dict[str, Any]]) -> list[Run]:
    """The runs of stored documents; one that cannot be read is left as it is, with an error."""
    runs = []
    for run in map(listed_run, docs):
        if isinstance(run, Unreadable):
            log.error("%s: it is left as it is in the store, neither resumed nor ended", run.error)
        else:
            runs.append(run)
    return runs


async def _kill_leftovers(
    runs: list[Run], root: Path, masker: Masker
) -> dict[str, tuple[tuple[str, str], ...]]:
    """Kill what the interrupted tasks of `runs` left running when the host died; by run, the
    node and the line that says so in its log."""
    interrupted = {
        r.run_id: workspace_path(root, r.flow, r.run_id)
        for r in runs
        if any(n.status is NodeStatus.RUNNING for n in r.nodes.values())
    }
    by_run: dict[str, tuple[tuple[str, str], ...]] = {}
    for left in await asyncio.to_thread(leftovers.kill, interrupted):
        log.warning(
            "<%s> killed process %d left running by %s: %s", left.run_id, left.pid, left.node_id, left.command
        )
        line = masker.mask(f"killed process {left.pid} left running when the host stopped: {left.command}")
        by_run[left.run_id] = (*by_run.get(left.run_id, ()), (left.node_id, line))
    return by_run
