"""The Hub: a host's event queue, its single consumer (the only writer of run state), and dispatch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from floe.cluster.client import PeerError
from floe.cluster.peers import Cluster, Peer
from floe.config import HostConfig
from floe.config.secrets import in_scope
from floe.config.sources import SourceFlowFiles
from floe.hub.broadcast import Broadcaster
from floe.hub.controls import AuditTrail, StopSwitch
from floe.hub.credentials import masked_values, task_environ
from floe.hub.flowfile import FlowFiles
from floe.hub.ids import RunIds
from floe.hub.messages import (
    Accept,
    Answer,
    Cancel,
    Lines,
    Message,
    NodeDone,
    Offered,
    Rerun,
    Reserved,
    Stopped,
    Trigger,
    Wake,
)
from floe.hub.records import Unreadable, listed_run, stored_run
from floe.hub.retention import Retainer
from floe.hub.runner import RunTasks, workspace_path
from floe.model import event as ev
from floe.model import run as rm
from floe.model.codec import run_doc
from floe.model.dispatch import Holder, HostView, place
from floe.model.dispatch import conflict as conflict_here
from floe.model.event import Event
from floe.model.flow import Flow
from floe.model.form import FormError, validate
from floe.model.mask import Masker
from floe.model.policy import Bucket, Rejected, admit
from floe.model.prepare import TRIGGER_ONLY_OPTS
from floe.model.run import Run, RunStatus, Step
from floe.nodes import leftovers
from floe.store.base import RunStore
from floe.store.errors import StoreError

log = logging.getLogger(__name__)
PERSIST_EVERY = 0.1  # seconds between writes of a busy run's document
BATCH_SECONDS = 0.005  # the longest the consumer works before it lets other tasks run


class NotDurable(Exception):
    """A request was carried out (`done`) but the store could not make it durable yet; `run_id`
    is the run it created, if any (an id that is never handed out again)."""

    def __init__(self, reason: str, done: str = "", run_id: str = "") -> None:
        lost = f"{done}, but a restart of this host now would lose it" if done else "nothing was done"
        super().__init__(f"the store cannot write ({reason}): {lost}")
        self.run_id = run_id


@dataclass(frozen=True, slots=True)
class HostInfo:
    id: str
    tags: frozenset[str]


class Hub:
    """Consumes the host's queue one message at a time; applies pure transitions; starts nodes."""

    def __init__(
        self,
        host: HostInfo,
        config: HostConfig,
        store: RunStore,
        *,
        clock: Callable[[], float] = time.time,
        grace: float = 5.0,
        flow_files: FlowFiles | None = None,
        cluster: Cluster | None = None,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        self.secrets: Mapping[str, str] = dict(secrets or {})  # `${secret:NAME}` values; never logged
        self.flow_files: FlowFiles = flow_files or SourceFlowFiles(
            Path(config.common.store_root) / "flow_cache", config.common.git_key
        )
        self.cluster = cluster or Cluster(host.id, "", (), config.common.base_url, "", store)
        # what tasks start from: the environment the host started with, but its own credentials
        self.host_env = task_environ(os.environ, config.common, self.cluster.token)
        self.masker = Masker(masked_values(self.secrets, self.cluster.token, config.common))
        self.host, self.config, self.store, self.clock, self.grace = host, config, store, clock, grace
        self.queue: asyncio.Queue[Message] = asyncio.Queue()
        self.broadcast = Broadcaster()
        self.observers: list[Callable[[dict[str, Any]], None]] = []  # see every event (metrics)
        self.runs: dict[str, Run] = {}  # pending and active runs held by this host
        self.ready = asyncio.Event()
        self.counts: dict[tuple[str, str], int] = {}  # (flow, status) -> runs ended, for metrics
        self._runners: dict[str, RunTasks] = {}
        self._cancelling: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._written: dict[str, tuple[RunStatus, float]] = {}  # run -> status and time last written
        self._held: list[tuple[RunTasks, tuple[rm.Start, ...]]] = []  # starts waiting to be stored
        self._persist_due = False
        self.ids = RunIds(store, host.id)
        self.switch = StopSwitch(store, lambda: self.post(Wake()))
        self.audit = AuditTrail(store, host.id, clock)
        self.retention = Retainer(self)  # its `run()` is a task of the host
        self._buckets: dict[str, dict[str, Bucket]] = {}  # flow -> its policies' token buckets
        self._offering: dict[str, str] = {}  # pend -> the host it is being handed to ("" for us)
        self._pinned: dict[str, str] = {}  # pend -> host that may have taken it: offer only there
        self._dispatching = False
        self._again = False
        self._tg: asyncio.TaskGroup | None = None

    def use_config(self, config: HostConfig) -> None:
        """Run with a reloaded config from now on; its users' password hashes are masked too."""
        self.config = config
        self.masker = Masker(masked_values(self.secrets, self.cluster.token, config.common))

    # ---- paths -------------------------------------------------------------------------------
    @property
    def workspace_root(self) -> Path:
        return Path(self.config.common.workspace_root)

    @property
    def cache_dir(self) -> Path:
        return Path(self.config.common.store_root) / "fetch_cache"

    # ---- the API's side: requests put on the queue -------------------------------------------
    def post(self, msg: Message) -> None:
        self.queue.put_nowait(msg)

    async def trigger(self, flow: Flow, trigger_id: str, values: Mapping[str, Any], by: str = "") -> str:
        """Validate `values` against the trigger's form and create a pend; returns its run id once
        the pend is durable. Raises LookupError (no such trigger), FormError (bad value) or
        FlowFileError (its flow-file cannot be had: nothing starts)."""
        trig = flow.trigger(trigger_id)
        if trig is None:
            raise LookupError(f"flow {flow.id} has no trigger {trigger_id}")
        clean = self.masker.mask_value(validate(trig.fields, values))  # a secret typed in is no value
        flow = await self.flow_files.resolve(flow)
        merged = {k: v for k, v in trig.opts.items() if k not in TRIGGER_ONLY_OPTS} | clean
        await self._promise_id()
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.post(Trigger(flow, trigger_id, merged, reply, by or f"trigger {trigger_id}"))
        run_id = await reply
        await self._durable(f"run {run_id} was created and will run", run_id)
        return run_id

    async def rerun(self, old: Run, from_node: str = "", by: str = "") -> str:
        """A new run of `old`'s exact snapshot and values (from `from_node` on, when given)."""
        await self._promise_id()
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.post(Rerun(old, from_node, reply, by))
        run_id = await reply
        await self._durable(f"run {run_id} was created and will run", run_id)
        return run_id

    async def _promise_id(self) -> None:
        try:
            await self.ids.promise()
        except StoreError as e:
            raise NotDurable(str(e)) from e

    async def _durable(self, done: str, run_id: str = "") -> None:
        """Return once what a request did is stored (the consumer has enqueued all of it before
        the request's reply resumes it); NotDurable when the store cannot write now."""
        try:
            await self.store.flush()
        except StoreError as e:
            raise NotDurable(str(e), done, run_id) from e

    async def answer(self, run_id: str, node_id: str, values: Mapping[str, Any], by: str = "") -> None:
        """Answer a waiting data task; returns once the answer and what it caused are stored."""
        reply: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.post(Answer(run_id, node_id, values, reply, by))
        await reply
        await self._durable(f"the answer to {node_id} of run {run_id} was taken")

    async def cancel(self, run_id: str, reason: str = "cancelled by user", by: str = "") -> None:
        """Cancel a run; returns once the cancel is stored (a restart then ends the run cancelled)."""
        reply: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.post(Cancel(run_id, reason, reply, by))
        await reply
        await self._durable(f"run {run_id} is being cancelled")

    async def archive(self, flow_id: str, limit: int, before: float | None) -> list[Run | Unreadable]:
        """A page of the flow's archive; a run whose record cannot be read is in it as Unreadable."""
        docs = await self.store.list_runs(phase="archive", flow=flow_id, limit=limit, before=before)
        return [listed_run(d) for d in docs]

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

    async def accept(self, run: Run) -> str:
        """A peer hands us a pend (idempotent by run id): "" once it runs here, else why not."""
        lacking = set(run.flow.host_tags) - self.host.tags
        if lacking:
            return f"host {self.host.id} lacks tags {', '.join(sorted(lacking))}"
        known = await self.store.get_run(run.run_id)
        if run.run_id in self.runs or (known and known["phase"] in ("active", "archive")):
            return ""
        why = await self.cluster.acquire(run.run_id, run.flow.resource_tags)
        if why:
            return why
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.post(Accept(run, reply))
        why = await reply
        if why and run.flow.resource_tags:
            await self.cluster.release(run.run_id)
        await self.store.flush()
        return why

    def ended_elsewhere(self, run_id: str, status: str, ended: float) -> None:
        """The host we handed a run to says it ended: keep that in our moved record."""
        self._spawn(self._mark_moved_ended(run_id, status, ended))

    async def _mark_moved_ended(self, run_id: str, status: str, ended: float) -> None:
        doc = await self.store.get_run(run_id)
        if doc and doc["phase"] == "moved":
            self.store.put_run({**doc, "status": status, "ended": ended})

    # ---- the consumer ------------------------------------------------------------------------
    async def run(self) -> None:
        """Recover stored runs, then consume the queue until cancelled."""
        async with asyncio.TaskGroup() as tg:
            self._tg = tg
            await self._recover()
            self.ready.set()
            try:
                while True:
                    self._handle(await self.queue.get())
                    deadline = time.monotonic() + BATCH_SECONDS  # never paced by its readers
                    while not self.queue.empty() and time.monotonic() < deadline:
                        self._handle(self.queue.get_nowait())
                    self._persist()
                    self._release_held()
                    if not self.queue.empty():
                        await asyncio.sleep(0)  # a flood of output lines never starves the API
            finally:
                with contextlib.suppress(StoreError):  # a store closed first keeps the block's end
                    self.ids.stopping()
                for tasks in self._runners.values():
                    if tasks.task:
                        tasks.task.cancel()

    def _handle(self, msg: Message) -> None:
        try:
            self._apply_message(msg)
        except Exception as e:  # the consumer must survive any one bad message
            if not isinstance(e, Rejected | LookupError | FormError):
                log.exception("hub: %s failed", type(msg).__name__)
            reply = getattr(msg, "reply", None)
            if reply is not None and not reply.done():
                reply.set_exception(e)

    def _apply_message(self, msg: Message) -> None:
        now = self.clock()
        match msg:
            case Lines(run_id, node_id, lines):
                if (run := self.runs.get(run_id)) is not None:
                    self._apply(rm.log_lines(run, node_id, lines, now))
            case NodeDone(run_id, node_id, status, opts, error, artifacts):
                if (run := self.runs.get(run_id)) is not None and run_id not in self._cancelling:
                    self._apply(rm.node_done(run, node_id, status, opts, error, now, artifacts))
            case Trigger(flow, trigger, values, reply, by):
                self.ids.arrived()
                self._admit(flow, trigger, values, now)
                step = rm.new_pend(self.ids.take(), flow, trigger, values, now)
                self._new(step, self.audit.record(by, "trigger", flow.id, step.run.run_id, trigger))
                reply.set_result(step.run.run_id)
            case Rerun(old, from_node, rerun_reply, by):
                self.ids.arrived()
                self._admit(old.flow, old.trigger, old.values, now)
                step = rm.rerun(old, self.ids.take(), from_node, now)
                detail = f"re-run of {old.run_id}" + (f" from {from_node}" if from_node else "")
                self._new(step, self.audit.record(by, "rerun", old.flow.id, step.run.run_id, detail))
                rerun_reply.set_result(step.run.run_id)
            case Answer(run_id, node_id, values, answer_reply, by):
                run = self.runs.get(run_id)
                if run is None or run.status is RunStatus.PENDING or run_id in self._cancelling:
                    raise LookupError(f"run {run_id} is not active on {self.host.id}")
                step = rm.answer(run, node_id, values, now, by, self.masker.mask_value)
                entry = self.audit.record(
                    by, "answer", run.flow.id, run_id, _answered(step.run, node_id, values)
                )
                self._written.pop(run_id, None)  # its document is written in this turn
                self._apply(replace(step, run=rm.audited(step.run, entry)), hold=True)
                answer_reply.set_result(None)
            case Cancel(run_id, reason, cancel_reply, by):
                if (run := self.runs.get(run_id)) is not None:
                    self.runs[run_id] = rm.audited(
                        run, self.audit.record(by, "cancel", run.flow.id, run_id, reason)
                    )
                    self._dirty.add(run_id)  # a restart before it stops ends it cancelled
                    self._written.pop(run_id, None)
                self._cancel(run_id, reason, now)
                cancel_reply.set_result(None)
            case Stopped(run_id, reason):
                self._cancelling.pop(run_id, None)
                if (run := self.runs.get(run_id)) is not None:
                    self._apply(rm.cancel(run, reason, now))
            case Accept(run, accept_reply):
                accept_reply.set_result(self._accept(run))
            case Offered(run_id, host, taken, reason, unknown):
                self._offered(run_id, host, taken, reason, unknown)
            case Reserved(run_id, reason):
                self._reserved(run_id, reason)
            case Wake():
                self._dispatch()

    def _new(self, step: Step, entry: dict[str, Any]) -> None:
        """Keep a new pend (with its first audit entry) and dispatch it at once."""
        self._apply(replace(step, run=rm.audited(step.run, entry)))
        self._dispatch()

    def _admit(self, flow: Flow, trigger: str, values: Mapping[str, Any], now: float) -> None:
        """Raise Rejected unless the flow's admission policies let this trigger create a pend."""
        if not flow.policies:
            return
        live = sum(1 for r in self.runs.values() if r.flow.id == flow.id)
        rejection, taken = admit(flow, trigger, values, live, self._buckets.get(flow.id, {}), now)
        if rejection is not None:
            raise Rejected(rejection)
        self._buckets.setdefault(flow.id, {}).update(taken)

    def _cancel(self, run_id: str, reason: str, now: float) -> None:
        run = self.runs.get(run_id)
        if run is None:
            raise LookupError(f"run {run_id} is not pending or active on {self.host.id}")
        tasks = self._runners.get(run_id)
        if run.status is RunStatus.PENDING or tasks is None or tasks.task is None:
            self._apply(rm.cancel(run, reason, now))
        elif run_id not in self._cancelling:
            self._cancelling[run_id] = reason
            tasks.task.cancel()

    def _apply(self, step: Step, *, hold: bool = False) -> None:
        """Make a transition real: keep the run, publish its events, start its nodes (with `hold`,
        once the transition is stored: see `_start_stored`)."""
        run = step.run
        self._dirty.add(run.run_id)
        docs = [e.to_json() for e in step.events]
        for doc in docs:
            self.store.append_event(doc)
        if run.status.ended:
            self._end(run)
            self._spawn(self._announce_durable(docs))
            return
        for doc in docs:
            self._publish(doc)
        self.runs[run.run_id] = run
        tasks = self._runners.get(run.run_id)
        if tasks is None or not step.starts:
            return
        if hold:
            self._held.append((tasks, step.starts))
            return
        for start in step.starts:
            tasks.start(start)

    def _release_held(self) -> None:
        if self._held:
            held, self._held = self._held, []
            self._spawn(self._start_stored(held))

    async def _start_stored(self, held: list[tuple[RunTasks, tuple[rm.Start, ...]]]) -> None:
        """Start the nodes of an activation or an answer once the store has them as started. Were
        they started first, a restart could find the run still pending or its gate still waiting
        (its activation or answer lost with the process) and start them again. While the store
        cannot write they wait, as nothing they do could be recorded."""
        told = False
        while True:
            try:
                await self.store.flush()
                break
            except StoreError as e:
                if not told:
                    told = True
                    log.error("nodes of %d runs wait for the store to write: %s", len(held), e)
        for tasks, starts in held:
            if self._runners.get(tasks.run_id) is tasks and tasks.run_id not in self._cancelling:
                for start in starts:
                    tasks.start(start)

    def _publish(self, doc: dict[str, Any]) -> None:
        self.broadcast.publish(doc)
        for observe in self.observers:
            observe(doc)

    async def _announce_durable(self, docs: list[dict[str, Any]]) -> None:
        """Publish a run's last events once the store has committed its end, so a client that saw
        a run end never finds it otherwise after a crash (unless the store has been failing for its
        flush timeout: then they are published anyway, and the writes are still being retried)."""
        with contextlib.suppress(StoreError):
            await self.store.flush()
        for doc in docs:
            self._publish(doc)

    def _end(self, run: Run) -> None:
        self.runs.pop(run.run_id, None)
        self._written.pop(run.run_id, None)
        self._offering.pop(run.run_id, None)
        self._pinned.pop(run.run_id, None)
        if run.exec_host == self.host.id:
            if run.flow.resource_tags:
                self._spawn(self.cluster.release(run.run_id))
            adopter = run.run_id.rpartition("-")[0]
            if adopter != self.host.id and (peer := self.cluster.peer(adopter)) is not None:
                self._spawn(self._tell_ended(peer, run))
            self._wake_peers()
        self.store.put_run(run_doc(run))
        self._dirty.discard(run.run_id)
        if run.exec_host == self.host.id:
            self.retention.note(run.flow.id)
        key = (run.flow.id, run.status.value)
        self.counts[key] = self.counts.get(key, 0) + 1
        tasks = self._runners.pop(run.run_id, None)
        if tasks is not None and tasks.task is not None and not tasks.task.done():
            tasks.task.cancel()  # kill what still runs (an end node fired, or a bad event ended it)
        log.info("<%s> %s ended %s %s", run.run_id, run.flow.id, run.status.value, run.reason)
        self._dispatch()

    def _persist(self) -> None:
        """Write the changed run documents. A run busy with running tasks is written at most every
        PERSIST_EVERY seconds (its events are stored one by one meanwhile); any other change (a new
        pend, a gate waiting, a status change) is written at once, and an ended run by `_end`."""
        now = time.monotonic()
        later = False
        for run_id in list(self._dirty):
            run = self.runs.get(run_id)
            if run is None:
                self._dirty.discard(run_id)
                continue
            status, at = self._written.get(run_id, (None, 0.0))
            if run.status is RunStatus.RUNNING and status is RunStatus.RUNNING and now - at < PERSIST_EVERY:
                later = True
                continue
            self.store.put_run(run_doc(run))
            self._written[run_id] = (run.status, now)
            self._dirty.discard(run_id)
        if later and not self._persist_due:
            self._persist_due = True
            asyncio.get_running_loop().call_later(PERSIST_EVERY, self._persist_soon)

    def _persist_soon(self) -> None:
        self._persist_due = False
        self.post(Wake())  # the consumer persists after handling it

    # ---- dispatch ----------------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Start every pending run that fits now, oldest first; the rest keep a pending reason.

        A run that ends while being activated dispatches again; that nested call only asks for
        another pass, so one pass never works from a stale list."""
        if self._dispatching:
            self._again = True
            return
        self._dispatching = True
        try:
            self._again = True
            while self._again:
                self._again = False
                self._dispatch_pass()
        finally:
            self._dispatching = False

    def _dispatch_pass(self) -> None:
        pending = sorted(
            (
                r
                for r in self.runs.values()
                if r.status is RunStatus.PENDING and r.run_id not in self._offering
            ),
            key=lambda r: r.created,
        )
        if not pending:
            return
        holders = [Holder(r.run_id, r.exec_host, r.flow) for r in self.runs.values() if r.phase == "active"]
        hosts = [HostView(self.host.id, self.host.tags, True, len(holders)), *self.cluster.views()]
        for run in pending:
            if self._again:
                return
            stop = self.switch.reason(run.flow.id)
            if stop:
                self._set_reason(run, stop)
                continue
            pinned = self._pinned.get(run.run_id)
            candidates = [h for h in hosts if h.id == pinned] if pinned else hosts
            if run.workspace_from and not pinned:
                candidates = hosts[:1]  # a partial re-run runs where the earlier workspace is: here
            host, why = place(run.flow, candidates, holders, prefer=self.host.id)
            if not host:
                self._set_reason(run, f"offered to {pinned}, no answer yet: {why}" if pinned else why)
            elif host != self.host.id:
                self._offering[run.run_id] = host
                self._spawn(self._offer(run, host))
                hosts = [replace(h, active=h.active + 1) if h.id == host else h for h in hosts]
            elif run.flow.resource_tags and self.cluster.locks is None:
                self._offering[run.run_id] = ""
                self._spawn(self._reserve(run))
            elif run.flow.resource_tags and (why := self._reserve_here(run)):
                self._set_reason(run, why)
            else:
                holders.append(Holder(run.run_id, host, run.flow))
                hosts[0] = replace(hosts[0], active=hosts[0].active + 1)
                self._activate(run)

    def _reserve_here(self, run: Run) -> str:
        assert self.cluster.locks is not None
        return self.cluster.locks.acquire(run.run_id, self.host.id, run.flow.resource_tags)

    def _set_reason(self, run: Run, why: str) -> None:
        if why != run.reason:
            self.runs[run.run_id] = rm.set_pending_reason(run, why)
            self._dirty.add(run.run_id)

    def _accept(self, run: Run) -> str:
        """Run a pend handed to us by a peer, unless it conflicts with a run here."""
        if run.run_id in self.runs:
            return ""
        holders = [Holder(r.run_id, r.exec_host, r.flow) for r in self.runs.values() if r.phase == "active"]
        why = conflict_here(run.flow, self.host.id, holders)
        if not why:
            self.runs[run.run_id] = run
            self._activate(run)
        return why

    def _offered(self, run_id: str, host: str, taken: bool, reason: str, unknown: bool) -> None:
        self._offering.pop(run_id, None)
        run = self.runs.get(run_id)
        if run is None or run.status is not RunStatus.PENDING:
            return
        if taken:
            self._pinned.pop(run_id, None)
            if (peer := self.cluster.peer(host)) is not None:
                peer.active += 1  # until its next hello says how busy it really is
            del self.runs[run_id]
            self._dirty.discard(run_id)
            moved = replace(run, exec_host=host, status=RunStatus.RUNNING, reason="")
            self.store.put_run({**run_doc(moved), "phase": "moved"})
            moved_to = Event(
                run_id, run.flow.id, ev.SYS_MOVED, run.trigger, True, {"exec_host": host}, run.seq
            )
            self.broadcast.publish(moved_to.to_json())
            log.info("<%s> handed to %s", run_id, host)
            return
        if unknown:
            self._pinned[run_id] = host  # it may have started there: never offer it elsewhere
        self._set_reason(run, reason)

    def _reserved(self, run_id: str, reason: str) -> None:
        self._offering.pop(run_id, None)
        run = self.runs.get(run_id)
        if run is None or run.status is not RunStatus.PENDING:
            if not reason:
                self._spawn(self.cluster.release(run_id))
            return
        if reason:
            self._set_reason(run, reason)
        else:
            self._activate(run)

    async def _offer(self, run: Run, host: str) -> None:
        peer = self.cluster.peer(host)
        try:
            if peer is None:
                raise PeerError(f"host {host} unknown")
            taken, why = await peer.client.offer(run_doc(run))
            self.post(Offered(run.run_id, host, taken, why))
        except PeerError as e:  # pinned to that host only if the offer may have reached it
            why = f"host {host} unreachable ({e})"
            self.post(Offered(run.run_id, host, False, why, unknown=e.delivered))

    async def _reserve(self, run: Run) -> None:
        self.post(Reserved(run.run_id, await self.cluster.acquire(run.run_id, run.flow.resource_tags)))

    async def _tell_ended(self, peer: Peer, run: Run) -> None:
        body = {"status": run.status.value, "ended": run.ended}
        try:
            await peer.client.call("POST", f"/runs/{run.run_id}/ended", body)
        except PeerError as e:
            log.info("<%s> could not tell %s it ended: %s", run.run_id, peer.id, e)

    def _wake_peers(self) -> None:
        for peer in self.cluster.online():
            self._spawn(_quietly(peer.client.call("POST", "/wake", {})))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._tg is None:
            coro.close()
            return
        self._tg.create_task(coro)

    def _activate(self, run: Run) -> None:
        """Start a pend here: its runner prepares the workspace (empty, or a partial re-run's copy
        of the earlier run's) before any of the nodes that activation starts."""
        copy = (
            workspace_path(self.workspace_root, run.flow, run.workspace_from) if run.workspace_from else None
        )
        self._start_runner(run, fresh=True, copy_from=copy)
        self._apply(rm.activate(run, self.host.id, self.clock()), hold=True)

    def _start_runner(self, run: Run, *, fresh: bool, copy_from: Path | None = None) -> None:
        assert self._tg is not None
        tasks = RunTasks(
            run.run_id,
            run.flow,
            workspace_path(self.workspace_root, run.flow, run.run_id),
            self.cache_dir,
            self.post,
            fresh=fresh,
            store_root=Path(self.config.common.store_root),
            git_key=self.config.common.git_key,
            grace=self.grace,
            secrets=in_scope(self.secrets, self.config.common.secrets, run.flow.id),
            masker=self.masker,
            host_env=self.host_env,
            copy_from=copy_from,
        )
        self._runners[run.run_id] = tasks
        tasks.task = self._tg.create_task(self._own(tasks))

    async def _own(self, tasks: RunTasks) -> None:
        try:
            await tasks.main()
        finally:
            reason = self._cancelling.get(tasks.run_id)
            if reason is not None:
                self.post(Stopped(tasks.run_id, reason))

    # ---- restart -----------------------------------------------------------------------------
    async def _recover(self) -> None:
        """Load the pending and active runs of this host and resolve every interrupted one."""
        await self.ids.load()
        await self.switch.load()
        await self.audit.load()
        now = self.clock()
        for run in reversed(self._readable(await self.store.list_runs(phase="pending"))):
            self.runs[run.run_id] = run
        active: list[Run] = []
        for run in self._readable(await self.store.list_runs(phase="active")):
            if run.exec_host != self.host.id:
                continue
            later = await self.store.events(run.run_id, run.seq)  # a busy run's document lags its events
            active.append(replace(run, seq=max(e["seq"] for e in later)) if later else run)
        killed = await self._kill_leftovers(active)
        for run in active:
            for left in killed.get(run.run_id, []):
                run = self._note_killed(run, left, now)
            step = rm.recover(run, now)
            if not step.run.status.ended:
                self._start_runner(step.run, fresh=False)
            self._apply(step)
        self._persist()
        self._dispatch()
        self._persist()
        await self.store.flush()
        self._release_held()

    def _readable(self, docs: list[dict[str, Any]]) -> list[Run]:
        """The runs of stored documents; one that cannot be read is left as it is, with an error."""
        runs = []
        for run in map(listed_run, docs):
            if isinstance(run, Unreadable):
                log.error("%s: it is left as it is in the store, neither resumed nor ended", run.error)
            else:
                runs.append(run)
        return runs

    async def _kill_leftovers(self, runs: list[Run]) -> dict[str, list[leftovers.Leftover]]:
        """Kill what the interrupted tasks of `runs` left running when the host died; by run."""
        interrupted = {
            r.run_id: workspace_path(self.workspace_root, r.flow, r.run_id)
            for r in runs
            if any(n.status is rm.NodeStatus.RUNNING for n in r.nodes.values())
        }
        by_run: dict[str, list[leftovers.Leftover]] = {}
        for left in await asyncio.to_thread(leftovers.kill, interrupted):
            log.warning(
                "<%s> killed process %d left running by %s: %s",
                left.run_id,
                left.pid,
                left.node_id,
                left.command,
            )
            by_run.setdefault(left.run_id, []).append(left)
        return by_run

    def _note_killed(self, run: Run, left: leftovers.Leftover, now: float) -> Run:
        """Say in the node's log that its leftover process was killed; the run with that event."""
        node = left.node_id if left.node_id in run.nodes else next(iter(run.nodes), "")
        line = self.masker.mask(
            f"killed process {left.pid} left running when the host stopped: {left.command}"
        )
        step = rm.log_lines(run, node, (line,), now)
        self._apply(step)
        return step.run


def _answered(run: Run, node_id: str, values: Mapping[str, Any]) -> str:
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


async def _quietly(call: Awaitable[Any]) -> None:
    with contextlib.suppress(PeerError):
        await call
