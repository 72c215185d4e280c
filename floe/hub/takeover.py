"""The surviving host's part of a takeover: the runs of a lost host resolved in the shared store."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from floe.cluster.pg import Takeover
from floe.hub.records import stored_run
from floe.model import event as ev
from floe.model.codec import run_doc
from floe.model.run import Run, RunStatus, Start
from floe.model.takeover import take_over
from floe.store.base import RunStore
from floe.store.errors import DamagedRecord

log = logging.getLogger(__name__)


async def resolve_lost(
    store: RunStore,
    takeover: Takeover,
    survivor: str,
    now: float,
    moved: Callable[[Run, tuple[Start, ...]], object] = lambda run, starts: None,
    repend: Callable[[Run], object] = lambda run: None,
    tags: frozenset[str] = frozenset(),
) -> list[str]:
    """End (or, waiting on a data gate or retried as its tasks' `retries` allow, move to `survivor`,
    then handed to `moved` with the starts of the retried tasks once stored)
    each run that `cluster.pg.take_over` returned, and every other active run the store holds of a
    lost host, as stored: its events and document written, then flushed. A run the lost host had
    claimed but whose activation was never stored (no task of it started: starts wait for that)
    is a pend again, handed to `repend` to be made claimable. The ids of the runs changed; a run
    no longer active (it ended before its host was lost) is left as it is."""
    changed: list[str] = []
    kept: list[tuple[Run, tuple[Start, ...]]] = []  # moved to the survivor: waiting, or retried
    again: list[Run] = []  # claimed, never started: claimable again
    nodes = {item.run_id: item.node for item in takeover.lost}
    hosts = {item.run_id: item.host for item in takeover.lost}
    for listed in await store.list_runs(phase="active"):
        if listed.get("exec_host") in takeover.hosts:
            hosts.setdefault(str(listed["run_id"]), str(listed["exec_host"]))
    for run_id, lost_host in sorted(hosts.items()):
        doc = await store.get_run(run_id)
        if doc is None or doc.get("phase") not in ("active", "pending"):
            continue
        try:
            run = stored_run(doc)
        except DamagedRecord as e:
            log.error("takeover of %s: %s; left as it is", run_id, e)
            continue
        later = await store.events(run.run_id, run.seq)  # a busy run's document lags its events
        if later:
            run = replace(run, seq=max(e["seq"] for e in later))
        if run.status is RunStatus.PENDING and not any(_activation(e) for e in later):
            again.append(run)
            log.warning(
                "host %s lost: run %s it had claimed never started: claimable again", lost_host, run_id
            )
            continue
        fits = set(run.flow.host_tags) <= tags  # the survivor's `tags`: may it retry the run's tasks
        step = take_over(run, lost_host, survivor, now, nodes.get(run_id, ""), fits)
        for event in step.events:
            store.append_event(event.to_json())
        store.put_run(run_doc(step.run))
        changed.append(run.run_id)
        if not step.run.status.ended:
            kept.append((step.run, step.starts))
        log.warning("host %s lost: run %s %s", lost_host, run_id, step.run.reason or f"moved to {survivor}")
    await store.flush()
    for run, starts in kept:
        moved(run, starts)
    for run in again:
        repend(run)
        changed.append(run.run_id)
    return changed


async def claimable_again(store: RunStore, takeover: Takeover, add: Callable[[Run], object]) -> list[str]:
    """Hand `add` (making a pend claimable in the cluster's database; idempotent, and a run claimed
    already is left as it is) each stored pend that a lost host made: it may have died between
    storing the pend and making it claimable. The ids handed."""
    handed: list[str] = []
    for doc in await store.list_runs(phase="pending"):
        if str(doc.get("run_id", "")).rpartition("-")[0] not in takeover.hosts:
            continue
        try:
            run = stored_run(doc)
        except DamagedRecord as e:
            log.error("takeover of pend %s: %s; left as it is", doc.get("run_id"), e)
            continue
        add(run)
        handed.append(run.run_id)
    return handed


async def left_placed(store: RunStore, placed: Sequence[str]) -> tuple[list[str], list[Run]]:
    """Of the runs still placed on a host that starts again (after `kill -9`, before its lease ran
    out): those whose placement is to be freed (ended, or not stored), among them the ones it had
    claimed and never started (pends again: to be made claimable). A run active here is left to
    the host's recovery (it ends, or waits on its gate), as is one it cannot read."""
    free: list[str] = []
    again: list[Run] = []
    for run_id in placed:
        doc = await store.get_run(run_id)
        if doc is not None and doc.get("phase") == "active":
            continue
        if doc is not None and doc.get("phase") == "pending":
            try:
                run = stored_run(doc)
            except DamagedRecord as e:
                log.error("placed here at start, %s; left as it is", e)
                continue
            if any(_activation(e) for e in await store.events(run_id, run.seq)):
                log.error("<%s> placed here at start, activated but stored pending: left as it is", run_id)
                continue
            again.append(run)
            log.warning(
                "<%s> claimed here and never started before this host restarted: claimable again", run_id
            )
        free.append(run_id)
    return free, again


def _activation(event: dict[str, object]) -> bool:
    """Whether a stored event is a run's activation (a run whose document still reads pending
    may have been activated: the pend's host can write its pending reason over the activation)."""
    opts = event.get("opts")
    return event.get("tag") == ev.SYS_STATE and isinstance(opts, dict) and opts.get("action") == "activate"
