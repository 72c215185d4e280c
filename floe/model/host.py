"""The host's state and its one reducer: `handle(state, message, now) -> (state, [effect])`.

Everything the hub decides lives here, purely: pends created (admission, ids, audit), node results
applied, dispatch (placement, hand-over, reservations, the stop switch), cancellation, the end of
a run, which run documents to write when, and what a restart resumes. The hub only carries out
the effects, in order (floe/hub/effects.py); its messages are floe/model/messages.py's.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from floe.model import event as ev
from floe.model import run as rm
from floe.model.codec import run_doc
from floe.model.dispatch import Holder, HostView, conflict, place
from floe.model.effects import (
    AddPend,
    Admit,
    AppendEvents,
    AwaitStored,
    CancelTasks,
    Claim,
    CountHanded,
    Effect,
    Fail,
    Log,
    Offer,
    PlaceState,
    Publish,
    PublishStored,
    PutKv,
    PutRun,
    Release,
    Reserve,
    Resolve,
    Retain,
    StartNodes,
    StartRunner,
    TellEnded,
    TookId,
    Unadmit,
    Unpend,
    Unplace,
    WakePeers,
)
from floe.model.effects import PersistSoon as PersistSoonEffect
from floe.model.errors import Conflict, FloeError, NotFound
from floe.model.event import Event
from floe.model.flow import Flow
from floe.model.messages import (
    Accept,
    Admitted,
    Answer,
    Cancel,
    Claimed,
    ClaimedBy,
    Halt,
    LeaseLost,
    Lines,
    Message,
    NodeDone,
    Offered,
    Peers,
    PersistDue,
    Record,
    Recovered,
    Rerun,
    Reserved,
    Resume,
    Settle,
    Stopped,
    Stored,
    TakenOver,
    Trigger,
    Wake,
)
from floe.model.policy import Bucket, Rejected, admit, counted
from floe.model.run import Run, RunStatus, Start, Step

PERSIST_EVERY = 0.1  # seconds between writes of a busy run's document
STOP_FILE = "stop-file"  # the stop switch's scope while the stop file exists
AUDIT = "_audit"  # the stream of audit entries among the store's events
CLAIMABLE = "*"  # `offering` of a pend made claimable in the cluster's database
UNCLAIMED = "waiting for a host to claim it"  # its reason until a claim says more


def audit_key(host: str, claims: bool) -> str:
    """The key of the host's audit counter: on the cluster's database (`claims`) each host has its own."""
    return f"audit-seq/{host}" if claims else "audit-seq"


Held = tuple[str, tuple[Start, ...]]  # a run's node starts waiting for the store to write


@dataclass(frozen=True, slots=True)
class HostState:
    """All a host holds of its runs, so that no two places can disagree about one."""

    host: str
    tags: frozenset[str] = frozenset()
    runs: Mapping[str, Run] = field(default_factory=dict)  # pending and active runs held here
    tasks: frozenset[str] = frozenset()  # runs with a live task (their nodes run in it)
    cancelling: Mapping[str, str] = field(default_factory=dict)  # run -> reason, task being cancelled
    dirty: frozenset[str] = frozenset()  # runs whose document changed since it was written
    written: Mapping[str, tuple[RunStatus, float]] = field(default_factory=dict)  # status, when
    held: tuple[Held, ...] = ()  # starts of activations and answers, until those are stored
    offering: Mapping[str, str] = field(default_factory=dict)  # pend -> host handed to ("": locks)
    pinned: Mapping[str, str] = field(default_factory=dict)  # pend -> host that may have taken it
    buckets: Mapping[str, Mapping[str, Bucket]] = field(default_factory=dict)  # flow -> policy's
    stopped: Mapping[str, str] = field(default_factory=dict)  # stop switch: scope -> reason
    peers: tuple[HostView, ...] = ()
    audit_seq: int = 0
    last_id: int = 0  # the number of the last run id handed out
    persist_due: bool = False  # a PersistDue is on its way
    counts: Mapping[tuple[str, str], int] = field(default_factory=dict)  # (flow, status) -> ended
    claims: bool = False  # placement through the cluster's database (postgres), not offers and locks
    max_runs: int = 0  # the most runs not waiting on a data gate this host takes at once (0: any)


def busy(runs: Iterable[Run]) -> tuple[int, int]:
    """How many of `runs` are active, and how many of those run (a run waiting on a data gate does
    not: it takes no slot of max-runs)."""
    active = [r for r in runs if r.phase == "active"]
    return len(active), sum(1 for r in active if r.status is not RunStatus.WAITING)


def stop_reason(stopped: Mapping[str, str], flow_id: str) -> str:
    """Why dispatch of the flow is stopped ("" when it is not): the stop file, all flows, or it."""
    for scope in (STOP_FILE, "*", flow_id):
        if scope in stopped:
            return f"dispatch stopped: {stopped[scope]}"
    return ""


def handle(state: HostState, msg: Message, now: float) -> tuple[HostState, list[Effect]]:
    """The state after `msg` and what to do about it. A request refused (a FloeError: no such run,
    a bad answer, a policy) leaves the state as it was and fails the request's reply."""
    turn = _Turn(state, now)
    try:
        turn.message(msg)
    except FloeError as e:
        reply = getattr(msg, "reply", None)
        if reply is None:
            raise
        return state, [Fail(reply, e)]
    return turn.state(), turn.effects


class _Turn:
    """One message's work on working copies of the state; `state()` freezes the result."""

    def __init__(self, s: HostState, now: float) -> None:
        self.s, self.now = s, now
        self.runs = dict(s.runs)
        self.tasks = set(s.tasks)
        self.cancelling = dict(s.cancelling)
        self.dirty = set(s.dirty)
        self.written = dict(s.written)
        self.held = list(s.held)
        self.offering = dict(s.offering)
        self.pinned = dict(s.pinned)
        self.buckets = dict(s.buckets)
        self.stopped = dict(s.stopped)
        self.peers = list(s.peers)
        self.audit_seq, self.last_id, self.persist_due = s.audit_seq, s.last_id, s.persist_due
        self.counts = dict(s.counts)
        self.effects: list[Effect] = []
        self.dispatching = self.again = False

    def state(self) -> HostState:
        return HostState(
            self.s.host,
            self.s.tags,
            self.runs,
            frozenset(self.tasks),
            self.cancelling,
            frozenset(self.dirty),
            self.written,
            tuple(self.held),
            self.offering,
            self.pinned,
            self.buckets,
            self.stopped,
            tuple(self.peers),
            self.audit_seq,
            self.last_id,
            self.persist_due,
            self.counts,
            self.s.claims,
            self.s.max_runs,
        )

    def do(self, *effects: Effect) -> None:
        self.effects.extend(effects)

    def view(self) -> HostView:
        """This host as placement sees it."""
        return HostView(self.s.host, self.s.tags, True, *busy(self.runs.values()), self.s.max_runs)

    # ---- messages ----------------------------------------------------------------------------
    def message(self, msg: Message) -> None:
        match msg:
            case Lines(run_id, node_id, lines):
                if (run := self.runs.get(run_id)) is not None:
                    self.apply(rm.log_lines(run, node_id, lines, self.now))
            case NodeDone(run_id, node_id, status, opts, error, artifacts):
                if (run := self.runs.get(run_id)) is not None and run_id not in self.cancelling:
                    self.apply(rm.node_done(run, node_id, status, opts, error, self.now, artifacts))
            case Trigger(flow, trigger, values):
                if not self.ask_admission(msg, flow, trigger, values):
                    self.admit(flow, trigger, values)
                    self.create(msg, self.take_id())
            case Rerun(old):
                if not self.ask_admission(msg, old.flow, old.trigger, old.values):
                    self.admit(old.flow, old.trigger, old.values)
                    self.create(msg, self.take_id())
            case Admitted(request, run_id, refused):
                self.admitted(request, run_id, refused)
            case Answer(run_id, node_id, values, reply, by, mask):
                run = self.runs.get(run_id)
                if run is None or run.status is RunStatus.PENDING or run_id in self.cancelling:
                    raise NotFound(f"run {run_id} is not active on {self.s.host}")
                step = rm.answer(run, node_id, values, self.now, by, mask)
                entry = self.audit(by, "answer", run.flow.id, run_id, answered(step.run, node_id, values))
                self.written.pop(run_id, None)  # its document is written in this batch
                self.apply(replace(step, run=rm.audited(step.run, entry)), hold=True)
                self.do(Resolve(reply, None))
            case Cancel(run_id, reason, reply, by):
                self.cancel(run_id, reason, by)
                self.do(Resolve(reply, None))
            case Stopped(run_id):
                self.tasks.discard(run_id)
                why = self.cancelling.pop(run_id, None)
                if why is not None and (run := self.runs.get(run_id)) is not None:
                    self.apply(rm.cancel(run, why, self.now))
            case Accept(run, reply):
                self.do(Resolve(reply, self.accept(run)))
            case Offered(run_id, host, taken, reason, unknown):
                self.offered(run_id, host, taken, reason, unknown)
            case Reserved(run_id, reason):
                self.reserved(run_id, reason)
            case Claimed(runs, reasons):
                self.claimed(runs, reasons)
            case ClaimedBy(run_id, host):
                self.claimed_by(run_id, host)
            case TakenOver(run, starts):
                if run.status is RunStatus.PENDING:  # claimable again (retried): any host claims it
                    if run.run_id not in self.runs and run.run_id.rpartition("-")[0] == self.s.host:
                        self.runs[run.run_id] = run
                        self.offering[run.run_id] = CLAIMABLE
                    self.do(AddPend(run))
                elif run.run_id not in self.runs and run.exec_host == self.s.host:
                    self.runs[run.run_id] = run
                    self.tasks.add(run.run_id)
                    doing = "retried here" if starts else "waiting here"
                    self.do(StartRunner(run, fresh=False), Log(f"<{run.run_id}> taken over, {doing}"))
                    if starts:
                        self.do(StartNodes(run.run_id, starts))
            case LeaseLost(reply):
                self.resolved_elsewhere()
                self.do(Resolve(reply, None))
            case Wake():
                self.dispatch()
            case Halt(scope, reason):
                self.stopped[scope] = reason
                self.do(
                    PutKv("stop", dict(self.stopped)),
                    Log(f"dispatch stopped for {_scope(scope)}: {reason}", logging.WARNING),
                )
                self.dispatch()
            case Resume(scope):
                if self.stopped.pop(scope, None) is not None:
                    self.do(
                        PutKv("stop", dict(self.stopped)),
                        Log(f"dispatch resumed for {_scope(scope)}", logging.WARNING),
                    )
                self.dispatch()
            case Record(by, action, flow, run_id, detail):
                self.audit(by, action, flow, run_id, detail)
            case Peers(views):
                self.peers = list(views)
            case Settle(at):
                self.persist(at)
                if self.held:
                    self.do(AwaitStored(tuple(self.held)))
                    self.held = []
            case PersistDue():
                self.persist_due = False
            case Stored(held):
                for run_id, starts in held:
                    if run_id in self.tasks and run_id not in self.cancelling:
                        self.do(StartNodes(run_id, starts))
            case Recovered():
                self.recover(msg)

    # ---- pends -------------------------------------------------------------------------------
    def admit(self, flow: Flow, trigger: str, values: Mapping[str, Any]) -> None:
        """Raise Rejected unless the flow's admission policies let this trigger create a pend."""
        if not flow.policies:
            return
        live = sum(1 for r in self.runs.values() if r.flow.id == flow.id)
        rejection, taken = admit(flow, trigger, values, live, self.buckets.get(flow.id, {}), self.now)
        if rejection is not None:
            raise Rejected(rejection)
        self.buckets[flow.id] = {**self.buckets.get(flow.id, {}), **taken}

    def ask_admission(
        self, msg: Trigger | Rerun, flow: Flow, trigger: str, values: Mapping[str, Any]
    ) -> bool:
        """On the cluster's database, a policy that counts runs or takes tokens counts them across
        the cluster: the run's id is taken and the database asked (Admitted follows: True). Values
        that `allow` refuses are refused at once, without asking."""
        if not (self.s.claims and counted(flow, trigger)):
            return False
        rejection, _ = admit(flow, trigger, values, 0, {}, self.now)  # what no count can change
        if rejection is not None:
            raise Rejected(rejection)
        run_id = self.take_id()
        if isinstance(msg, Rerun):
            rm.rerun(msg.old, run_id, msg.from_node, self.now)  # a bad `from` fails before asking
        self.do(Admit(msg, run_id, flow, trigger, values))
        return True

    def admitted(self, request: Trigger | Rerun, run_id: str, refused: FloeError | None) -> None:
        """The database's answer to an Admit: the pend is made with the id taken for it, or the
        request fails (a refused id goes back when no other was taken since; one whose answer was
        lost may have been admitted: that admission is dropped)."""
        if refused is None:
            self.create(request, run_id)
            return
        number = int(run_id.rpartition("-")[2])
        if isinstance(refused, Rejected):
            if number == self.last_id:
                self.last_id -= 1
                self.do(TookId(self.last_id))
        else:
            self.do(Unadmit(run_id))
        self.do(Fail(request.reply, refused))

    def create(self, request: Trigger | Rerun, run_id: str) -> None:
        """Make the pend a trigger or a re-run asks for, as run `run_id`, and answer with its id."""
        if isinstance(request, Trigger):
            flow, trigger, values, by = request.flow, request.trigger, request.values, request.by
            step = rm.new_pend(run_id, flow, trigger, values, self.now)
            self.new(step, self.audit(by, "trigger", flow.id, run_id, trigger))
        else:
            old, from_node = request.old, request.from_node
            step = rm.rerun(old, run_id, from_node, self.now)
            detail = f"re-run of {old.run_id}" + (f" from {from_node}" if from_node else "")
            self.new(step, self.audit(request.by, "rerun", old.flow.id, run_id, detail))
        self.do(Resolve(request.reply, run_id))

    def take_id(self) -> str:
        self.last_id += 1
        self.do(TookId(self.last_id))
        return f"{self.s.host}-{self.last_id}"

    def audit(
        self, by: str, action: str, flow: str = "", run_id: str = "", detail: str = ""
    ) -> dict[str, Any]:
        """Add an entry to the host's audit trail (a stream in the store) and return it."""
        self.audit_seq += 1
        entry = {
            "at": self.now,
            "by": by or "?",
            "action": action,
            "flow": flow,
            "run_id": run_id,
            "detail": detail,
            "host": self.s.host,
            "seq": self.audit_seq,
        }
        event = {"run_id": AUDIT, "flow": flow, "seq": self.audit_seq, "tag": "audit", "source_node": ""}
        self.do(
            PutKv(audit_key(self.s.host, self.s.claims), self.audit_seq),
            AppendEvents(({**event, "good": True, "opts": entry, "at": self.now},)),
            # the entry is stored: its log line is for debugging (one INFO line per trigger was
            # 2-4% of the loop's time in a burst of runs)
            Log(f"audit: {entry['by']} {action} {run_id or flow} {detail}", logging.DEBUG),
        )
        return entry

    def new(self, step: Step, entry: dict[str, Any]) -> None:
        """Keep a new pend (with its first audit entry) and dispatch it at once."""
        self.apply(replace(step, run=rm.audited(step.run, entry)))
        self.dispatch()

    # ---- applying a run's transition ---------------------------------------------------------
    def apply(self, step: Step, *, hold: bool = False) -> None:
        """Keep the run, store and publish its events, start its nodes (with `hold`, once the
        transition is stored: a restart then never finds it undone and starts them again)."""
        run = step.run
        self.dirty.add(run.run_id)
        if self.s.claims:
            self.place_state(self.runs.get(run.run_id), run)
        docs = tuple(e.to_json() for e in step.events)
        if docs:
            self.do(AppendEvents(docs))
        if run.status.ended:
            self.end(run)
            self.do(PublishStored(docs))
            return
        if docs:
            self.do(Publish(docs))
        self.runs[run.run_id] = run
        if run.run_id not in self.tasks or not step.starts:
            return
        if hold:
            self.held.append((run.run_id, step.starts))
        else:
            self.do(StartNodes(run.run_id, step.starts))

    def place_state(self, before: Run | None, run: Run) -> None:
        """Tell the cluster's database when a run placed here starts or stops waiting on a gate."""
        gate = run.status is RunStatus.WAITING
        back = before is not None and before.status is RunStatus.WAITING and run.status is RunStatus.RUNNING
        if before is None or before.status is run.status or not (gate or back):
            return
        want = rm.NodeStatus.WAITING if gate else rm.NodeStatus.RUNNING
        node = next((n.id for n in run.nodes.values() if n.status is want), "")
        self.do(PlaceState(run.run_id, gate, node))

    def end(self, run: Run) -> None:
        rid = run.run_id
        for table in (self.runs, self.written, self.offering, self.pinned, self.cancelling):
            table.pop(rid, None)
        if self.s.claims:
            self.do(Unplace(rid) if run.exec_host == self.s.host else Unpend(rid))
        elif run.exec_host == self.s.host:
            if run.flow.resource_tags:
                self.do(Release(rid))
            adopter = rid.rpartition("-")[0]
            if adopter != self.s.host:
                self.do(TellEnded(adopter, rid, run.status.value, run.ended))
            self.do(WakePeers())
        self.do(PutRun(run_doc(run)))
        self.dirty.discard(rid)
        if run.exec_host == self.s.host:
            self.do(Retain(run.flow.id))
        key = (run.flow.id, run.status.value)
        self.counts[key] = self.counts.get(key, 0) + 1
        if rid in self.tasks:
            self.tasks.discard(rid)
            self.do(CancelTasks(rid))  # kill what still runs (an end node fired, or a bad event)
        self.do(Log(f"<{rid}> {run.flow.id} ended {run.status.value} {run.reason}"))
        self.dispatch()

    def cancel(self, run_id: str, reason: str, by: str) -> None:
        run = self.runs.get(run_id)
        if run is None:
            raise Conflict(f"run {run_id} is not pending or active on {self.s.host}")
        run = rm.audited(run, self.audit(by, "cancel", run.flow.id, run_id, reason))
        self.runs[run_id] = run
        self.dirty.add(run_id)  # a restart before it stops ends it cancelled
        self.written.pop(run_id, None)
        if run.status is RunStatus.PENDING or run_id not in self.tasks:
            self.apply(rm.cancel(run, reason, self.now))
        elif run_id not in self.cancelling:
            self.cancelling[run_id] = reason
            self.do(CancelTasks(run_id))

    def persist(self, at: float) -> None:
        """Write the changed run documents. A run busy with running tasks is written at most every
        PERSIST_EVERY seconds (its events are stored one by one meanwhile); any other change (a new
        pend, a gate waiting, a status change) is written at once, and an ended run by `end`."""
        later = False
        for run_id in sorted(self.dirty):
            run = self.runs.get(run_id)
            if run is None:
                self.dirty.discard(run_id)
                continue
            status, last = self.written.get(run_id, (None, 0.0))
            if run.status is RunStatus.RUNNING and status is RunStatus.RUNNING and at - last < PERSIST_EVERY:
                later = True
                continue
            self.do(PutRun(run_doc(run)))
            self.written[run_id] = (run.status, at)
            self.dirty.discard(run_id)
        if later and not self.persist_due:
            self.persist_due = True
            self.do(PersistSoonEffect(PERSIST_EVERY))

    # ---- dispatch ----------------------------------------------------------------------------
    def dispatch(self) -> None:
        """Start every pending run that fits now, oldest first; the rest keep a pending reason.

        A run that ends while being activated dispatches again; that nested call only asks for
        another pass, so one pass never works from a stale list."""
        if self.dispatching:
            self.again = True
            return
        self.dispatching = True
        self.again = True
        while self.again:
            self.again = False
            self.dispatch_pass()
        self.dispatching = False

    def dispatch_pass(self) -> None:
        if self.s.claims:
            self.claim_pass()
            return
        pending = sorted(
            (
                r
                for r in self.runs.values()
                if r.status is RunStatus.PENDING and r.run_id not in self.offering
            ),
            key=lambda r: r.created,
        )
        if not pending:
            return
        holders = [Holder(r.run_id, r.exec_host, r.flow) for r in self.runs.values() if r.phase == "active"]
        hosts = [self.view(), *self.peers]
        for run in pending:
            if self.again:
                return
            stop = stop_reason(self.stopped, run.flow.id)
            if stop:
                self.set_reason(run, stop)
                continue
            pinned = self.pinned.get(run.run_id)
            candidates = [h for h in hosts if h.id == pinned] if pinned else hosts
            if run.workspace_from and not pinned:
                candidates = hosts[:1]  # a partial re-run runs where the earlier workspace is: here
            host, why = place(run.flow, candidates, holders, prefer=self.s.host)
            if not host:
                self.set_reason(run, f"offered to {pinned}, no answer yet: {why}" if pinned else why)
            elif host != self.s.host:
                self.offering[run.run_id] = host
                self.set_reason(run, f"offered to {host}, waiting for its answer")
                self.do(Offer(self.runs[run.run_id], host))
                hosts = [h.took() if h.id == host else h for h in hosts]
            elif run.flow.resource_tags:
                self.offering[run.run_id] = ""
                self.set_reason(run, "reserving its resource tags " + ",".join(run.flow.resource_tags))
                self.do(Reserve(run.run_id, tuple(run.flow.resource_tags)))
            else:
                holders.append(Holder(run.run_id, host, run.flow))
                hosts[0] = hosts[0].took()
                self.activate(run)

    def claim_pass(self) -> None:
        """Placement through the cluster's database: each new pend is made claimable there (once
        stored), and this host claims what it may take; the Claimed answer starts those here. A
        pass that made a pend claimable does not claim: the pend's wake-up (which reaches this
        host too) claims once it is claimable; a claim before that could take nothing new, and
        it ran beside the write of the pend that every claim waits for."""
        added = False
        for run in sorted(self.runs.values(), key=lambda r: r.created):
            if run.status is not RunStatus.PENDING or run.run_id in self.offering:
                continue
            if stop := stop_reason(self.stopped, run.flow.id):
                self.set_reason(run, stop)
                continue
            self.offering[run.run_id] = CLAIMABLE
            self.set_reason(run, UNCLAIMED)
            self.do(AddPend(self.runs[run.run_id]))
            added = True
        if not (added or STOP_FILE in self.stopped or "*" in self.stopped):
            self.do(Claim())

    def claimed(self, runs: tuple[Run, ...], reasons: Mapping[str, str]) -> None:
        """Start here the runs this host claimed (its own copy of a pend it made is the newer one);
        keep the reason why each pend of its own still waits."""
        for stored in runs:
            self.offering.pop(stored.run_id, None)
            run = self.runs.get(stored.run_id, stored)
            mine = stored.run_id.rpartition("-")[0] == self.s.host
            if run.status is not RunStatus.PENDING or (mine and stored.run_id not in self.runs):
                # it ended (cancelled) before the claim; a pend made here and no longer here ended
                # here, though the copy the claim read may be older than its end
                self.do(Unplace(run.run_id))
                continue
            self.runs[run.run_id] = run
            if stop := stop_reason(self.stopped, run.flow.id):  # kept here until dispatch resumes
                self.set_reason(run, stop)
                self.do(Unplace(run.run_id))
                continue
            self.activate(run)
        for run_id, why in reasons.items():
            waiting = self.runs.get(run_id)
            if waiting is not None and waiting.status is RunStatus.PENDING and why:
                self.set_reason(waiting, why)

    def claimed_by(self, run_id: str, host: str) -> None:
        """Another host claimed a pend this host made: it is that host's run now."""
        run = self.runs.get(run_id)
        if host == self.s.host or run is None or run.status is not RunStatus.PENDING:
            return
        for table in (self.runs, self.written, self.offering, self.pinned):
            table.pop(run_id, None)
        self.dirty.discard(run_id)
        self.do(Log(f"<{run_id}> claimed by {host}"))

    def resolved_elsewhere(self) -> None:
        """The host that took this one over resolved every run active here (ended it, or moved it
        to itself waiting on its gate): drop them unwritten and kill what their tasks still run.
        Pends stay: they are claimable in the database whatever became of this host's lease."""
        for run in [r for r in self.runs.values() if r.phase == "active" and r.exec_host == self.s.host]:
            rid = run.run_id
            for table in (self.runs, self.written, self.offering, self.pinned, self.cancelling):
                table.pop(rid, None)
            self.dirty.discard(rid)
            self.held = [h for h in self.held if h[0] != rid]
            if rid in self.tasks:
                self.tasks.discard(rid)
                self.do(CancelTasks(rid))
            self.do(
                Log(f"<{rid}> resolved while this host was away (its lease was taken over)", logging.WARNING)
            )

    def set_reason(self, run: Run, why: str) -> None:
        if why != run.reason:
            self.runs[run.run_id] = rm.set_pending_reason(run, why)
            self.dirty.add(run.run_id)

    def activate(self, run: Run) -> None:
        """Start a pend here: its task prepares the workspace before any node starts."""
        self.tasks.add(run.run_id)
        self.do(StartRunner(run, fresh=True))
        self.apply(rm.activate(run, self.s.host, self.now), hold=True)

    def accept(self, run: Run) -> str:
        """Run a pend handed to us by a peer, unless it conflicts with a run here."""
        if run.run_id in self.runs:
            return ""
        holders = [Holder(r.run_id, r.exec_host, r.flow) for r in self.runs.values() if r.phase == "active"]
        why = conflict(run.flow, self.s.host, holders)
        if not why and self.view().full:
            why = f"host {self.s.host} is at its max-runs ({self.s.max_runs})"
        if not why:
            self.runs[run.run_id] = run
            self.activate(run)
        return why

    def offered(self, run_id: str, host: str, taken: bool, reason: str, unknown: bool) -> None:
        self.offering.pop(run_id, None)
        run = self.runs.get(run_id)
        if run is None or run.status is not RunStatus.PENDING:
            return
        if taken:
            self.pinned.pop(run_id, None)
            self.peers = [p.took() if p.id == host else p for p in self.peers]
            del self.runs[run_id]
            self.dirty.discard(run_id)
            self.written.pop(run_id, None)
            moved = replace(run, exec_host=host, status=RunStatus.RUNNING, reason="")
            moved_to = Event(
                run_id, run.flow.id, ev.SYS_MOVED, run.trigger, True, {"exec_host": host}, run.seq
            )
            self.do(
                CountHanded(host),
                PutRun({**run_doc(moved), "phase": "moved"}),
                Publish((moved_to.to_json(),), observe=False),
                Log(f"<{run_id}> handed to {host}"),
            )
            return
        if unknown:
            self.pinned[run_id] = host  # it may have started there: never offer it elsewhere
        self.set_reason(run, reason)

    def reserved(self, run_id: str, reason: str) -> None:
        self.offering.pop(run_id, None)
        run = self.runs.get(run_id)
        if run is None or run.status is not RunStatus.PENDING:
            if not reason:
                self.do(Release(run_id))
            return
        if reason:
            self.set_reason(run, reason)
        else:
            self.activate(run)

    # ---- restart -----------------------------------------------------------------------------
    def recover(self, got: Recovered) -> None:
        """Take the stored runs back: an interrupted active run resolves (rm.recover), one still
        waiting gets its task again; then pending runs are dispatched."""
        self.stopped = dict(got.stopped)
        self.audit_seq, self.last_id = got.audit_seq, got.last_id
        for run in got.pending:
            self.runs[run.run_id] = run
        for run in got.active:
            for node_id, line in got.killed.get(run.run_id, ()):
                node = node_id if node_id in run.nodes else next(iter(run.nodes), "")
                step = rm.log_lines(run, node, (line,), self.now)
                self.apply(step)
                run = step.run
            step = rm.recover(run, self.now)
            if not step.run.status.ended:
                self.tasks.add(run.run_id)
                self.do(StartRunner(step.run, fresh=False))
            self.apply(step)
        self.dispatch()


def _scope(scope: str) -> str:
    return "every flow" if scope == "*" else scope


def answered(run: Run, node_id: str, values: Mapping[str, Any]) -> str:
    """An answer as the audit trail keeps it: `gate: field=value, ...` with the values the gate
    took (masked), in the order of its fields, and whether the gate still waits for more."""
    took = run.node(node_id).values
    node = run.flow.node(node_id)
    order = [f.id for f in node.fields] if node is not None else []
    given = sorted(
        (k for k in values if k in took), key=lambda k: (order.index(k) if k in order else len(order), k)
    )
    kept = (
        " (kept: the gate still waits for the rest)"
        if run.node(node_id).status is rm.NodeStatus.WAITING
        else ""
    )
    return f"{node_id}: " + ", ".join(f"{k}={_text(took[k])}" for k in given) + kept


def _text(v: Any) -> str:
    return "true" if v is True else "false" if v is False else str(v)
