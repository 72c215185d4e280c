"""What becomes of a run whose host was lost (its lease expired): the surviving host's decision."""

from __future__ import annotations

from dataclasses import replace

from floe.model import run as rm
from floe.model.event import Event
from floe.model.run import NodeStatus, Run, RunStatus, Start, Step


def lost_reason(host: str, nodes: str) -> str:
    """Why a run interrupted by the loss of its host ended."""
    return f"host {host} lost while {nodes or 'the run'} was running"


def take_over(
    run: Run, lost_host: str, survivor: str, now: float, placed_at: str = "", fits: bool = True
) -> Step:
    """A run of `lost_host`, found by `survivor`: one whose cancel was asked for ends cancelled; one
    waiting only on data gates moves to `survivor` and keeps waiting; one whose running tasks all
    have `retries` left (and that holds no resource tags: the takeover freed them) moves to
    `survivor` to run them again; any other one whose tasks were running ends bad, naming them.
    `fits`: the survivor has the flow's host-tags (else nothing is retried there).
    `placed_at`: the node the cluster's placement last noted, named for a run whose stored
    document lags its activation."""
    asked = next((e for e in reversed(run.audit) if e.get("action") == "cancel"), None)
    if asked is not None:
        return rm.cancel(run, str(asked.get("detail") or "cancelled"), now)
    if run.status is RunStatus.PENDING:  # activated, as its events say, though its document lags
        return rm.fail(run, lost_reason(lost_host, placed_at), now)
    interrupted = sorted(n.id for n in run.nodes.values() if n.status is NodeStatus.RUNNING)
    if not interrupted:
        return Step(replace(run, exec_host=survivor))
    if fits and not run.flow.resource_tags and all(_may_retry(run, n) for n in interrupted):
        return _retry(replace(run, exec_host=survivor), interrupted, lost_host, now)
    return rm.fail(run, lost_reason(lost_host, ", ".join(interrupted)), now)


def _may_retry(run: Run, node_id: str) -> bool:
    node = run.flow.node(node_id)
    return node is not None and not node.ignore_fail and run.node(node_id).attempts <= node.retries


def _retry(run: Run, interrupted: list[str], lost_host: str, now: float) -> Step:
    """Each interrupted task's attempt counts as failed (its host lost): its next attempt, after
    its backoff, is to start on the survivor."""
    events: list[Event] = []
    starts: list[Start] = []
    for node_id in interrupted:
        step = rm.node_done(run, node_id, 1, {}, lost_reason(lost_host, node_id), now)
        run = step.run
        events += step.events
        starts += step.starts
    return Step(run, tuple(events), tuple(starts))
