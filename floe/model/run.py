"""Run state and its pure transitions: `(run, input, now) -> Step(run, events, starts)`.

The hub applies a Step: it publishes the events, starts the listed nodes and persists the run.
Nothing here does IO. End rules (docs/engine.md, "Lifecycle"): a run ends when an `end` node fires
(with the event's goodness), when a bad or error event has no listener (bad), or when nothing is
running or waiting (good). A good event with no listener ends nothing while other branches still run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from signal import Signals
from typing import Any

from floe.model import event as ev
from floe.model.errors import BadRequest, NotFound
from floe.model.event import Event
from floe.model.flow import Flow, Node, NodeClass
from floe.model.form import FormError, missing, validate
from floe.model.gate import approves
from floe.model.graph import downstream, listeners
from floe.model.prepare import Prepared, context, prepare, should_run
from floe.model.template import TemplateError

# a result opt: why a task failed when its exit status alone does not say (a timeout, git's message)
REASON = "reason"


class NotReached(BadRequest, LookupError):
    """A re-run from a node the earlier run never reached: a 400 naming `from`, and a LookupError
    (a node not found in the earlier run) to callers of `rerun`."""


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
    inputs: Mapping[str, Any] = field(default_factory=dict)  # the data (never opts) it was started with
    values: Mapping[str, Any] = field(default_factory=dict)  # data answers so far; merged merge opts
    waits: tuple[str, ...] = ()  # merge: tags seen so far
    reason: str = ""
    tries: tuple[Mapping[str, Any], ...] = ()  # earlier failed attempts: attempt, exit_status, reason, times
    outputs: Mapping[str, Any] = field(default_factory=dict)  # what the task published (masked)
    artifacts: tuple[Mapping[str, Any], ...] = ()  # files kept with the run: path, size, sha256


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
    workspace_from: str = ""  # the run whose workspace a partial re-run starts from (a copy)

    @property
    def phase(self) -> str:
        if self.status.ended:
            return "archive"
        return "pending" if self.status is RunStatus.PENDING else "active"

    def node(self, node_id: str) -> NodeRun:
        return self.nodes.get(node_id) or NodeRun(node_id)


@dataclass(frozen=True, slots=True)
class Start:
    """A task node the hub must start, after `delay` seconds (retries back off), with its opts
    (from the flow file only) and the run's data so far (values and upstream results)."""

    node_id: str
    opts: Mapping[str, Any]
    delay: float = 0.0
    attempt: int = 1
    values: Mapping[str, Any] = field(default_factory=dict)
    items: tuple[Any, ...] = ()  # a foreach node's items...
    each: tuple[Mapping[str, Any], ...] = ()  # ...and the opts of each


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
    """A new pending run; its first event is `sys.state add-pend`, then floe's `inbound.<trigger
    type>` with the values it was triggered with."""
    b = _Builder(Run(run_id, flow, trigger, dict(values), created=now), now)
    b.emit(ev.SYS_STATE, source=trigger, opts={"action": "add-pend"})
    node = flow.trigger(trigger)
    b.emit(ev.inbound_tag(node.type if node is not None else "data"), source=trigger, opts=dict(values))
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
        _start(b, first, run.node(first.id).inputs)
    else:
        _route(b, b.emit(ev.TRIGGER_GOOD, source=run.trigger, opts=dict(run.values)))
    _settle(b)
    return b.step()


def rerun(old: Run, run_id: str, from_node: str, now: float) -> Step:
    """A new pend from an earlier run's exact flow snapshot and values. With `from_node`, that node
    and what follows it run again in a copy of the earlier run's workspace; every other node keeps
    its earlier result (NotReached when the earlier run never reached `from_node`)."""
    nodes: dict[str, NodeRun] = {}
    if from_node:
        node, earlier = old.flow.node(from_node), old.nodes.get(from_node)
        if (
            node is None
            or node.cls is NodeClass.TRIGGER
            or earlier is None
            or earlier.status is NodeStatus.IDLE
        ):
            raise NotReached(f"run {old.run_id} never reached {from_node}: re-run it whole", "from")
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
        workspace_from=old.run_id if from_node else "",
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


def cause(status: int, opts: Mapping[str, Any], error: str = "") -> str:
    """Why a task failed, in a user's words: its error, its stated reason, or its exit status
    (with the signal's name when 128+N says it was killed by signal N)."""
    if error:
        return error
    said = opts.get(REASON)
    if isinstance(said, str) and said:
        return said
    if 128 < status < 128 + 65:
        try:
            return f"exit status {status} ({Signals(status - 128).name})"
        except ValueError:
            pass
    return f"exit status {status}"


def failure(e: Event) -> str:
    """A run's reason for ending bad on a task's failed result: `<node> failed: <cause>`."""
    status = e.opts.get("exit_status")
    why = cause(status if isinstance(status, int) else 1, e.opts, str(e.opts.get("error", "")))
    return f"{e.source} failed: {why}"


def node_done(
    run: Run,
    node_id: str,
    status: int,
    opts: Mapping[str, Any],
    error: str,
    now: float,
    artifacts: Sequence[Mapping[str, Any]] = (),
) -> Step:
    """A task finished (or could not run: `error`); retry it or route its result tag. `artifacts`
    are the files it kept (each attempt's replace the last's)."""
    b = _Builder(run, now)
    node = run.flow.node(node_id)
    nr = run.node(node_id)
    if node is None or run.status.ended or nr.status is not NodeStatus.RUNNING:
        return b.step()  # a late result of a cancelled or ended run
    tag, good = result_tag(node, status, error)
    why = "" if good else cause(status, opts, error)
    if not good and nr.attempts <= node.retries:
        delay = min(node.backoff * (2 ** (nr.attempts - 1)), 300.0)
        tried = {
            "attempt": nr.attempts,
            "exit_status": status,
            "reason": why,
            "started": nr.started,
            "stopped": now,
        }
        b.set_node(
            node_id,
            attempts=nr.attempts + 1,
            exit_status=status,
            reason=why,
            started=now + delay,
            tries=(*nr.tries, tried),
        )
        b.emit(ev.SYS_NODE_UPDATE, node_id, opts={"retry": nr.attempts + 1, "delay": delay, "reason": why})
        try:
            ready = prepare(b.run, node, nr.inputs)
        except TemplateError as e:
            return node_done(b.run, node_id, 1, {}, str(e), now)
        b.starts.append(_start_of(node, ready, nr.inputs, delay, nr.attempts + 1))
        return b.step()
    result = "error" if error and not node.ignore_fail else ("good" if good else "bad")
    b.set_node(
        node_id,
        status=NodeStatus.FINISHED,
        result=result,
        exit_status=status,
        stopped=now,
        reason=why or error,
        outputs=dict(opts),
        artifacts=tuple(dict(a) for a in artifacts),
    )
    out = {**dict(opts), "exit_status": status}
    if error:
        out["error"] = error
    _route(b, b.emit(tag, node_id, good, out))
    _settle(b)
    return b.step()


def answer(
    run: Run,
    node_id: str,
    values: Mapping[str, Any],
    now: float,
    by: str = "",
    mask: Callable[[Any], Any] = lambda v: v,
) -> Step:
    """Values posted to a waiting data task by user `by`; complete it once every needed field has
    a value. The gate's outputs then hold the answer and `answered_by`; a gate with `decide` takes
    its bad branch (`task.<id>.bad`) when the answer does not approve. `mask` is applied to the
    values once they are valid (the host masks secrets in them).

    Raises FormError for a bad value (or an answer that changes nothing) and NotFound when the
    node is not waiting.
    """
    node = run.flow.node(node_id)
    nr = run.node(node_id)
    if node is None or node.type != "data" or node.cls is not NodeClass.TASK:
        raise NotFound(f"{node_id} is not a data task of {run.flow.id}")
    if nr.status is not NodeStatus.WAITING:
        raise NotFound(f"data task {node_id} of run {run.run_id} is not waiting for data")
    if node.fields and not any(f.id in values for f in node.fields):
        raise FormError("", f"the answer to {node_id} gives none of its fields")
    merged = {**dict(nr.values), **validate(node.fields, values, partial=True)}
    b = _Builder(run, now)
    still = missing(node.fields, merged, gate=True)
    if still:
        b.set_node(node_id, values=mask(merged))
        b.emit(ev.SYS_DATA_REQUIRED, node_id, opts={"missing": still})
        return b.step()
    final = mask(validate(node.fields, merged))
    good = approves(node, final)
    outputs = {**final, "answered_by": by}
    reason = "" if good else f"{node.name or node_id} rejected by {by or 'an unknown user'}"
    result = "good" if good else "bad"
    b.set_node(
        node_id,
        status=NodeStatus.FINISHED,
        result=result,
        stopped=now,
        values=final,
        reason=reason,
        outputs=outputs,
    )
    tag = ev.task_tag(node_id, "good" if good else "bad")
    _route(b, b.emit(tag, node_id, good, {**dict(nr.inputs), **outputs}))
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
    """One `sys.node.update` event carrying the output lines (a batch, in order) as `lines`."""
    b = _Builder(run, now)
    if lines:
        b.emit(ev.SYS_NODE_UPDATE, node_id, opts={"lines": list(lines)})
    return b.step()


def recover(run: Run, now: float) -> Step:
    """Resolve a run found active after a restart: one whose cancel was asked for (its audit says
    so) ends cancelled; a run waiting only on data gates keeps waiting; one whose task was
    interrupted ends bad with the reason (tasks are never silently re-run)."""
    asked = next((e for e in reversed(run.audit) if e.get("action") == "cancel"), None)
    if asked is not None:
        return cancel(run, str(asked.get("detail") or "cancelled"), now)
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
    if e.opts.get("skipped") and e.source:  # merges count a skipped node as if it was good
        good_tag = ev.task_tag(e.source, "good")
        for m in listeners(b.run.flow, good_tag):
            if m.cls is NodeClass.MERGE:
                _merge(b, m, replace(e, tag=good_tag))
    if not nodes:
        if not e.good:
            b.end(RunStatus.BAD, failure(e))
        return
    inputs = {**b.run.values, **e.opts}  # data: the run's values, then what the event carries
    for node in nodes:
        if b.run.status.ended:
            return
        if node.cls is NodeClass.MERGE:
            _merge(b, node, e)
        else:
            _start(b, node, inputs, e)


def _start_of(
    node: Node, ready: Prepared, inputs: Mapping[str, Any], delay: float = 0.0, attempt: int = 1
) -> Start:
    return Start(node.id, ready.opts, delay, attempt, values=dict(inputs), items=ready.items, each=ready.each)


def _finish_unstarted(b: _Builder, node: Node, inputs: Mapping[str, Any], result: str, reason: str) -> None:
    b.set_node(
        node.id,
        status=NodeStatus.FINISHED,
        result=result,
        started=b.now,
        stopped=b.now,
        inputs=dict(inputs),
        reason=reason,
    )


def _skip(b: _Builder, node: Node, inputs: Mapping[str, Any]) -> None:
    """A node whose `when` is false: `skipped`, and `task.<id>.skipped` (good) goes on."""
    _finish_unstarted(b, node, inputs, "skipped", f"skipped: {node.when} is false")
    _route(b, b.emit(ev.task_tag(node.id, "skipped"), node.id, True, {**inputs, "skipped": True}))


def _broken(b: _Builder, node: Node, inputs: Mapping[str, Any], reason: str) -> None:
    """A node that cannot start (a template or `when` failed at run time): `task.<id>.error`."""
    _finish_unstarted(b, node, inputs, "error", reason)
    tag, good = result_tag(node, 1, reason)
    _route(b, b.emit(tag, node.id, good, {"error": reason}))


def _start(b: _Builder, node: Node, inputs: Mapping[str, Any], e: Event | None = None) -> None:
    """A task reached by an event (none: a partial re-run's first node): skip it (`when`), end
    the run, open a data gate, or start the task."""
    good = e is None or e.good
    if node.when and b.run.node(node.id).status is not NodeStatus.RUNNING:
        try:
            go = should_run(node, context(b.run, inputs))
        except TemplateError as err:
            _broken(b, node, inputs, str(err))
            return
        if not go:
            _skip(b, node, inputs)
            return
    if node.type == "end":
        b.set_node(
            node.id,
            status=NodeStatus.FINISHED,
            result="good" if good else "bad",
            started=b.now,
            stopped=b.now,
        )
        b.end(RunStatus.GOOD if good else RunStatus.BAD, "" if e is None or good else failure(e))
    elif node.type == "data":
        b.set_node(node.id, status=NodeStatus.WAITING, started=b.now, inputs=inputs, values={})
        b.emit(ev.SYS_DATA_REQUIRED, node.id, opts={"missing": missing(node.fields, {}, gate=True)})
    elif b.run.node(node.id).status is not NodeStatus.RUNNING:  # one instance per node and run
        try:
            ready = prepare(b.run, node, inputs)
        except TemplateError as e:
            _broken(b, node, inputs, str(e))
            return
        b.set_node(
            node.id,
            status=NodeStatus.RUNNING,
            result="",
            exit_status=None,
            started=b.now,
            stopped=None,
            attempts=1,
            inputs=dict(inputs),
            reason="",
            tries=(),
        )
        b.emit(ev.SYS_NODE_START, node.id)
        b.starts.append(_start_of(node, ready, inputs))


def _merge(b: _Builder, node: Node, e: Event) -> None:
    nr = b.run.node(node.id)
    if nr.status is NodeStatus.FINISHED:
        return
    waits = nr.waits if e.tag in nr.waits else (*nr.waits, e.tag)
    values = {**nr.values, **e.opts}
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
