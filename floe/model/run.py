"""Run state and its pure transitions: `(run, input, now) -> Step(run, events, starts)`.

The hub applies a Step: it publishes the events, starts the listed nodes and persists the run.
Nothing here does IO. End rules (DESIGN.md): a run ends when an `end` node fires (with the event's
goodness), when a bad or error event has no listener (bad), or when nothing is running or waiting
(good). A good event with no listener ends nothing while other branches still run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from floe.model import event as ev
from floe.model.event import Event
from floe.model.flow import Flow, Node, NodeClass
from floe.model.form import missing, validate
from floe.model.graph import downstream, listeners
from floe.model.opts import merge_opts


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    WAITING = "waiting"
    GOOD = "good"
    BAD = "bad"
    CANCELLED = "cancelled"

    @property
    def ended(self) -> bool:
        return self in (RunStatus.GOOD, RunStatus.BAD, RunStatus.CANCELLED)


class NodeStatus(StrEnum):
    IDLE = ""
    RUNNING = "running"
    WAITING = "waiting"
    FINISHED = "finished"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True)
class NodeRun:
    """What one node did in one run."""

    id: str
    status: NodeStatus = NodeStatus.IDLE
    result: str = ""  # "" | good | bad | error
    exit_status: int | None = None
    started: float | None = None
    stopped: float | None = None
    attempts: int = 0
    inputs: Mapping[str, Any] = field(default_factory=dict)  # opts the node was started with
    values: Mapping[str, Any] = field(default_factory=dict)  # data answers so far; merged merge opts
    waits: tuple[str, ...] = ()  # merge: tags seen so far
    reason: str = ""
    tries: tuple[Mapping[str, Any], ...] = ()  # earlier failed attempts: attempt, exit_status, reason, times


@dataclass(frozen=True, slots=True)
class Run:
    """A pending, active or archived run of a flow snapshot."""

    run_id: str
    flow: Flow
    trigger: str
    values: Mapping[str, Any]
    created: float
    status: RunStatus = RunStatus.PENDING
    exec_host: str = ""
    started: float | None = None
    ended: float | None = None
    nodes: Mapping[str, NodeRun] = field(default_factory=dict)
    reason: str = ""  # why it is still pending, or why it ended as it did
    seq: int = 0  # seq of the run's last event
    rerun_of: str = ""  # the run this one re-runs
    audit: tuple[Mapping[str, Any], ...] = ()  # who did what to this run: {at, by, action, detail}
    from_node: str = ""  # a partial re-run starts here, keeping the earlier results of the rest

    @property
    def phase(self) -> str:
        if self.status.ended:
            return "archive"
        return "pending" if self.status is RunStatus.PENDING else "active"

    def node(self, node_id: str) -> NodeRun:
        return self.nodes.get(node_id) or NodeRun(node_id)


@dataclass(frozen=True, slots=True)
class Start:
    """A task node the hub must start, after `delay` seconds (retries back off)."""

    node_id: str
    opts: Mapping[str, Any]
    delay: float = 0.0
    attempt: int = 1


@dataclass(frozen=True, slots=True)
class Step:
    run: Run
    events: tuple[Event, ...] = ()
    starts: tuple[Start, ...] = ()


class _Builder:
    """Collects the run, events and starts of one transition. It copies the run's node map once
    and counts event numbers itself, so a transition costs little however many nodes a flow has."""

    def __init__(self, run: Run, now: float) -> None:
        self.run, self.now = run, now
        self.seq = run.seq
        self.events: list[Event] = []
        self.starts: list[Start] = []
        self._own_nodes = False

    def emit(
        self, tag: str, source: str = "", good: bool = True, opts: Mapping[str, Any] | None = None
    ) -> Event:
        self.seq += 1
        e = Event(self.run.run_id, self.run.flow.id, tag, source, good, opts or {}, self.seq, self.now)
        self.events.append(e)
        return e

    def set_node(self, node_id: str, **changes: Any) -> None:
        if not self._own_nodes:  # the caller's run is never changed: copy its nodes once
            self.run = replace(self.run, nodes=dict(self.run.nodes))
            self._own_nodes = True
        nodes = self.run.nodes
        assert isinstance(nodes, dict)
        nodes[node_id] = replace(self.run.node(node_id), **changes)

    def end(self, status: RunStatus, reason: str = "") -> None:
        if self.run.status.ended:
            return
        nodes = {
            k: (replace(n, status=NodeStatus.CANCELLED, stopped=self.now) if _live(n) else n)
            for k, n in self.run.nodes.items()
        }
        self.run = replace(self.run, status=status, ended=self.now, reason=reason, nodes=nodes)
        self._own_nodes = True
        good = status is RunStatus.GOOD
        self.emit(ev.SYS_END_ALL, good=good, opts={"status": status.value, "reason": reason})

    def step(self) -> Step:
        run = self.run if self.seq == self.run.seq else replace(self.run, seq=self.seq)
        return Step(run, tuple(self.events), tuple(self.starts))


def _live(n: NodeRun) -> bool:
    return n.status in (NodeStatus.RUNNING, NodeStatus.WAITING)


def new_pend(run_id: str, flow: Flow, trigger: str, values: Mapping[str, Any], now: float) -> Step:
    """A new pending run; its first event is `sys.state add-pend`."""
    b = _Builder(Run(run_id, flow, trigger, dict(values), created=now), now)
    b.emit(ev.SYS_STATE, source=trigger, opts={"action": "add-pend"})
    return b.step()


def audited(run: Run, entry: Mapping[str, Any]) -> Run:
    return replace(run, audit=(*run.audit, dict(entry)))


def set_pending_reason(run: Run, reason: str) -> Run:
    return run if run.reason == reason else replace(run, reason=reason)


def activate(run: Run, host: str, now: float) -> Step:
    """Start a pending run on `host`: `sys.state activate`, then `trigger.good` with the values
    (or, for a partial re-run, its first node with the inputs it had)."""
    b = _Builder(replace(run, status=RunStatus.RUNNING, exec_host=host, started=now, reason=""), now)
    b.emit(ev.SYS_STATE, source=run.trigger, opts={"action": "activate", "exec_host": host})
    first = run.flow.node(run.from_node) if run.from_node else None
    if first is not None:
        _start(b, first, run.node(first.id).inputs, good=True)
    else:
        _route(b, b.emit(ev.TRIGGER_GOOD, source=run.trigger, opts=dict(run.values)))
    _settle(b)
    return b.step()


def rerun(old: Run, run_id: str, from_node: str, now: float) -> Step:
    """A new pend from an earlier run's exact flow snapshot and values. With `from_node`, that node
    and what follows it run again; every other node keeps its earlier result (LookupError when the
    earlier run never reached `from_node`)."""
    nodes: dict[str, NodeRun] = {}
    if from_node:
        node, earlier = old.flow.node(from_node), old.nodes.get(from_node)
        if (
            node is None
            or node.cls is NodeClass.TRIGGER
            or earlier is None
            or earlier.status is NodeStatus.IDLE
        ):
            raise LookupError(f"run {old.run_id} never reached {from_node}: re-run it whole")
        again = downstream(old.flow, from_node)
        nodes = {k: n for k, n in old.nodes.items() if k not in again}
        nodes[from_node] = NodeRun(from_node, inputs=earlier.inputs)
        for k in again:
            merge, was = old.flow.node(k), old.nodes.get(k)
            if merge is not None and merge.cls is NodeClass.MERGE and was is not None and k != from_node:
                kept = tuple(t for t in was.waits if t.partition(".")[2].partition(".")[0] not in again)
                nodes[k] = NodeRun(
                    k,
                    status=NodeStatus.WAITING if kept else NodeStatus.IDLE,
                    waits=kept,
                    values=was.values if kept else {},
                )
    run = Run(
        run_id,
        old.flow,
        old.trigger,
        dict(old.values),
        created=now,
        nodes=nodes,
        rerun_of=old.run_id,
        from_node=from_node,
    )
    b = _Builder(run, now)
    b.emit(
        ev.SYS_STATE,
        source=old.trigger,
        opts={"action": "add-pend", "rerun_of": old.run_id, "from": from_node},
    )
    return b.step()


def result_tag(node: Node, status: int, error: str) -> tuple[str, bool]:
    """The tag a task's exit status maps to, and whether it counts as good."""
    if node.ignore_fail:
        return ev.task_tag(node.id, "good"), True
    if error:
        return ev.task_tag(node.id, "error"), False
    good = status in node.good
    if node.use_status:
        return ev.task_tag(node.id, str(status)), good
    return ev.task_tag(node.id, "good" if good else "bad"), good


def node_done(run: Run, node_id: str, status: int, opts: Mapping[str, Any], error: str, now: float) -> Step:
    """A task finished (or could not run: `error`); retry it or route its result tag."""
    b = _Builder(run, now)
    node = run.flow.node(node_id)
    nr = run.node(node_id)
    if node is None or run.status.ended or nr.status is not NodeStatus.RUNNING:
        return b.step()  # a late result of a cancelled or ended run
    tag, good = result_tag(node, status, error)
    if not good and nr.attempts <= node.retries:
        delay = min(node.backoff * (2 ** (nr.attempts - 1)), 300.0)
        tried = {
            "attempt": nr.attempts,
            "exit_status": status,
            "reason": error or tag,
            "started": nr.started,
            "stopped": now,
        }
        b.set_node(
            node_id,
            attempts=nr.attempts + 1,
            exit_status=status,
            reason=error,
            started=now + delay,
            tries=(*nr.tries, tried),
        )
        b.emit(ev.SYS_NODE_UPDATE, node_id, opts={"retry": nr.attempts + 1, "delay": delay, "reason": error})
        b.starts.append(Start(node_id, nr.inputs, delay, nr.attempts + 1))
        return b.step()
    result = "error" if error and not node.ignore_fail else ("good" if good else "bad")
    b.set_node(
        node_id, status=NodeStatus.FINISHED, result=result, exit_status=status, stopped=now, reason=error
    )
    out = {**dict(opts), "exit_status": status}
    if error:
        out["error"] = error
    _route(b, b.emit(tag, node_id, good, out))
    _settle(b)
    return b.step()


def answer(
    run: Run, node_id: str, values: Mapping[str, Any], now: float, mask: Callable[[Any], Any] = lambda v: v
) -> Step:
    """Values posted to a waiting data task; complete it once every needed field has a value.
    `mask` is applied to the values once they are valid (the host masks secrets in them).

    Raises FormError for a bad value and LookupError when the node is not waiting.
    """
    node = run.flow.node(node_id)
    nr = run.node(node_id)
    if node is None or node.type != "data" or node.cls is not NodeClass.TASK:
        raise LookupError(f"{node_id} is not a data task of {run.flow.id}")
    if nr.status is not NodeStatus.WAITING:
        raise LookupError(f"data task {node_id} of run {run.run_id} is not waiting for data")
    merged = {**dict(nr.values), **validate(node.fields, values, partial=True)}
    b = _Builder(run, now)
    still = missing(node.fields, merged, gate=True)
    if still:
        b.set_node(node_id, values=mask(merged))
        b.emit(ev.SYS_DATA_REQUIRED, node_id, opts={"missing": still})
        return b.step()
    final = mask(validate(node.fields, merged))
    b.set_node(node_id, status=NodeStatus.FINISHED, result="good", stopped=now, values=final)
    _route(b, b.emit(ev.task_tag(node_id, "good"), node_id, True, {**dict(nr.inputs), **final}))
    _settle(b)
    return b.step()


def cancel(run: Run, reason: str, now: float) -> Step:
    b = _Builder(run, now)
    b.end(RunStatus.CANCELLED, reason)
    return b.step()


def fail(run: Run, reason: str, now: float) -> Step:
    b = _Builder(run, now)
    b.end(RunStatus.BAD, reason)
    return b.step()


def log_lines(run: Run, node_id: str, lines: Sequence[str], now: float) -> Step:
    """One `sys.node.update` event per output line."""
    b = _Builder(run, now)
    for line in lines:
        b.emit(ev.SYS_NODE_UPDATE, node_id, opts={"line": line})
    return b.step()


def recover(run: Run, now: float) -> Step:
    """Resolve a run found active after a restart: a run waiting only on data gates keeps waiting;
    one whose task was interrupted ends bad with the reason (tasks are never silently re-run)."""
    interrupted = [n.id for n in run.nodes.values() if n.status is NodeStatus.RUNNING]
    if not interrupted:
        b = _Builder(run, now)
        _settle(b)
        return b.step()
    return fail(run, f"host restarted while {', '.join(sorted(interrupted))} was running", now)


def _route(b: _Builder, e: Event) -> None:
    """Deliver one event of the run to the nodes that listen to it."""
    if b.run.status.ended:
        return
    nodes = listeners(b.run.flow, e.tag)
    if not nodes:
        if not e.good:
            b.end(RunStatus.BAD, f"{e.tag} had no listener")
        return
    inputs = merge_opts(dict(b.run.values), dict(e.opts))
    for node in nodes:
        if b.run.status.ended:
            return
        if node.cls is NodeClass.MERGE:
            _merge(b, node, e)
        else:
            _start(b, node, inputs, e.good, e.tag)


def _start(b: _Builder, node: Node, inputs: Mapping[str, Any], good: bool, tag: str = "") -> None:
    """A task reached by an event: end the run, open a data gate, or start the task."""
    if node.type == "end":
        b.set_node(
            node.id,
            status=NodeStatus.FINISHED,
            result="good" if good else "bad",
            started=b.now,
            stopped=b.now,
        )
        b.end(RunStatus.GOOD if good else RunStatus.BAD, "" if good else f"ended by {tag}")
    elif node.type == "data":
        b.set_node(node.id, status=NodeStatus.WAITING, started=b.now, inputs=inputs, values={})
        b.emit(ev.SYS_DATA_REQUIRED, node.id, opts={"missing": missing(node.fields, {}, gate=True)})
    elif b.run.node(node.id).status is not NodeStatus.RUNNING:  # one instance per node and run
        # a partial re-run's first node gets exactly the inputs it had (its own opts are in them)
        opts = dict(inputs) if b.run.from_node == node.id else merge_opts(dict(inputs), dict(node.opts))
        b.set_node(
            node.id,
            status=NodeStatus.RUNNING,
            result="",
            exit_status=None,
            started=b.now,
            stopped=None,
            attempts=1,
            inputs=opts,
            reason="",
            tries=(),
        )
        b.emit(ev.SYS_NODE_START, node.id)
        b.starts.append(Start(node.id, opts))


def _merge(b: _Builder, node: Node, e: Event) -> None:
    nr = b.run.node(node.id)
    if nr.status is NodeStatus.FINISHED:
        return
    waits = nr.waits if e.tag in nr.waits else (*nr.waits, e.tag)
    values = merge_opts(dict(nr.values), dict(e.opts))
    b.set_node(node.id, status=NodeStatus.WAITING, waits=waits, values=values, started=nr.started or b.now)
    b.emit(ev.SYS_NODE_UPDATE, node.id, opts={"waits": {t: t in waits for t in node.wait}})
    if node.type == "any" or set(waits) >= set(node.wait):
        b.set_node(node.id, status=NodeStatus.FINISHED, result="good", stopped=b.now)
        _route(b, b.emit(ev.merge_tag(node.id), node.id, True, values))


def _settle(b: _Builder) -> None:
    """Running, waiting, or (nothing left to do) ended good."""
    if b.run.status.ended:
        return
    states = {n.status for n in b.run.nodes.values()}
    if NodeStatus.RUNNING in states:
        status = RunStatus.RUNNING
    elif any(
        n.status is NodeStatus.WAITING and (node := b.run.flow.node(n.id)) is not None and node.type == "data"
        for n in b.run.nodes.values()
    ):
        status = RunStatus.WAITING
    else:
        b.end(RunStatus.GOOD)
        return
    if status is not b.run.status:
        b.run = replace(b.run, status=status)
