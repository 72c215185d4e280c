"""The retention pass: deletes what `model.retention.plan` says, after runs end and on a slow timer."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe.model.flow import Flow
from floe.model.ids import valid_id, valid_run_id
from floe.model.retention import Archived, Retention, plan
from floe.store.errors import UNREADABLE, DamagedRecord, StoreError

if TYPE_CHECKING:
    from floe.hub.hub import Hub

log = logging.getLogger(__name__)
PERIOD = 600.0  # seconds between passes over every flow, besides the pass after each archived run


@dataclass(frozen=True, slots=True)
class Swept:
    """What one pass deleted."""

    runs: int = 0
    workspaces: int = 0
    failed: int = 0  # deletions that failed (logged; tried again by the next pass)

    def __add__(self, other: Swept) -> Swept:
        return Swept(self.runs + other.runs, self.workspaces + other.workspaces, self.failed + other.failed)


class Retainer:
    """Runs retention passes one at a time: for the flows whose runs ended (`note`), and for
    every flow each `period` seconds and on request (`sweep`)."""

    def __init__(self, hub: Hub, period: float = PERIOD) -> None:
        self.hub, self.period = hub, period
        self._due: set[str] = set()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()

    def note(self, flow_id: str) -> None:
        """A run of `flow_id` was archived: a pass over that flow comes soon."""
        self._due.add(flow_id)
        self._wake.set()

    async def run(self) -> None:
        """Pass over the noted flows as they come, and over all each period; until cancelled."""
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.period):
                    await self._wake.wait()
            self._wake.clear()
            due, self._due = self._due, set()
            try:
                await self.sweep(due or None, by="retention")
            except StoreError as e:  # the store cannot be read or written now: the next pass tries
                log.warning("retention pass skipped: %s", e)
            except Exception:  # a bug here must not stop the host; the next pass tries again
                log.exception("retention pass failed")

    async def sweep(self, flow_ids: Collection[str] | None = None, by: str = "retention") -> Swept:
        """One pass over `flow_ids` (None: every flow this host knows); audited when it deleted."""
        async with self._lock:
            hub = self.hub
            await hub.store.flush()  # the runs just archived are in the listings
            flows = {f.id: f for f in hub.config.flows}
            names = await asyncio.to_thread(_listed, hub.workspace_root / "spaces")
            wanted = sorted(set(flows) | set(names)) if flow_ids is None else sorted(flow_ids)
            total = Swept()
            for flow_id in wanted:
                if valid_id(flow_id):
                    total += await self._flow(flow_id, flows.get(flow_id))
            if total.runs or total.workspaces or total.failed:
                detail = f"deleted {total.runs} runs, {total.workspaces} workspaces"
                detail += f"; {total.failed} deletions failed" if total.failed else ""
                hub.audit.record(by, "retention", "" if len(wanted) != 1 else wanted[0], "", detail)
                log.info("retention: %s", detail)
            return total

    async def _flow(self, flow_id: str, flow: Flow | None) -> Swept:
        hub = self.hub
        policy = (flow.retention if flow is not None else Retention()).over(hub.config.common.retention)
        held = {r.run_id for r in hub.runs.values()} | {r.rerun_of for r in hub.runs.values() if r.rerun_of}
        ws_dir = hub.workspace_root / "spaces" / flow_id / "ws"
        spaces = await asyncio.to_thread(_listed, ws_dir)
        if policy.keep_runs is None and policy.keep_days is None:  # only workspaces to judge
            docs = await hub.store.list_runs(phase="archive", flow=flow_id, limit=policy.workspaces_kept)
            listed = {str(d["run_id"]) for d in docs}
            for name in spaces:  # an archive kept for ever is never read whole
                if name not in listed and name not in held and valid_run_id(name):
                    doc = await _readable(hub, name)
                    if doc is not None and doc.get("phase") == "archive" and doc.get("flow") == flow_id:
                        docs.append(doc)
        else:
            docs = await hub.store.list_runs(phase="archive", flow=flow_id)
        archived = [
            Archived(str(d["run_id"]), float(d["created"]), d.get("status") == "bad")
            for d in docs
            if UNREADABLE not in d and _ours(d, hub.host.id)
        ]
        todo = plan(archived, spaces, held, policy, hub.clock())
        runs = workspaces = failed = 0
        stuck: set[str] = set()  # workspaces that could not go: their runs stay, to be tried again
        for name in todo.workspaces:
            if not valid_run_id(name):  # never a path outside the flow's ws folder
                continue
            try:
                await asyncio.to_thread(shutil.rmtree, ws_dir / name)
                workspaces += 1
            except OSError as e:
                failed += 1
                stuck.add(name)
                log.warning("retention: cannot delete workspace %s: %s", ws_dir / name, e)
        for run_id in todo.runs:
            if run_id in stuck:
                continue
            try:
                kept = (
                    (Path(hub.config.common.store_root) / "artifacts" / run_id)
                    if valid_run_id(run_id)
                    else None
                )
                if kept is not None and kept.exists():  # the files its tasks kept go with it
                    await asyncio.to_thread(shutil.rmtree, kept)
                await hub.store.delete_run(run_id)
                runs += 1
            except OSError as e:
                failed += 1
                log.warning("retention: cannot delete the artifacts of run %s: %s", run_id, e)
            except StoreError as e:
                failed += 1
                log.warning("retention: cannot delete run %s: %s", run_id, e)
        if runs or workspaces:
            log.info("retention: %s: deleted %d runs, %d workspaces", flow_id, runs, workspaces)
        return Swept(runs, workspaces, failed)


async def _readable(hub: Hub, run_id: str) -> dict[str, Any] | None:
    """The stored document of `run_id`; None when there is none or it cannot be read."""
    try:
        return await hub.store.get_run(run_id)
    except DamagedRecord:
        return None


def _ours(doc: dict[str, Any], host_id: str) -> bool:
    """Each host sweeps the runs it executed, and those it adopted that ended before running
    anywhere (cancelled while pending)."""
    ran = doc.get("exec_host") or ""
    return ran == host_id or (not ran and str(doc["run_id"]).rpartition("-")[0] == host_id)


def _listed(folder: Path) -> list[str]:
    """The names of the directories in `folder` ([] when there is none)."""
    try:
        with os.scandir(folder) as entries:
            return [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []
