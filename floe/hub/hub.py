"""The Hub: a host's event queue and its single consumer, which puts each message through the host
reducer (floe/model/host.py) and carries out its effects, in order."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe.cluster.peers import Cluster
from floe.config import HostConfig
from floe.config.flowfile import FlowFiles
from floe.config.sources import SourceFlowFiles
from floe.hub.broadcast import Broadcaster
from floe.hub.controls import AuditTrail, StopSwitch
from floe.hub.credentials import masked_values, task_environ
from floe.hub.effects import Effects
from floe.hub.ids import RunIds
from floe.hub.recovery import recovered
from floe.hub.retention import Retainer
from floe.hub.stored import StoredRuns
from floe.model.errors import Conflict, FloeError, NotFound
from floe.model.flow import Flow
from floe.model.form import validate
from floe.model.host import HostState, busy, handle
from floe.model.mask import Masker
from floe.model.messages import (
    Accept,
    Answer,
    Cancel,
    ClaimedBy,
    LeaseLost,
    Message,
    Peers,
    Rerun,
    Settle,
    Trigger,
    Wake,
)
from floe.model.prepare import TRIGGER_ONLY_OPTS
from floe.model.run import Run, RunStatus
from floe.model.wakeups import on_wake_up
from floe.store.base import RunStore
from floe.store.errors import StoreError

if TYPE_CHECKING:
    from floe.cluster.pg_link import PgLink

log = logging.getLogger(__name__)
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
    max_runs: int = 0  # the most runs it takes at once, gate-waiting ones aside (0: any number)


class Hub(StoredRuns):
    """The host's queue, its consumer, and the requests the API and triggers make of it."""

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
        queue: asyncio.Queue[Message] | None = None,
    ) -> None:
        self.secrets: Mapping[str, str] = dict(secrets or {})  # `${secret:NAME}` values; never logged
        self.flow_files: FlowFiles = flow_files or SourceFlowFiles(
            Path(config.common.store_root) / "flow_cache", config.common.git_key
        )
        self.cluster = cluster or Cluster(
            host.id, "", (), config.common.base_url, "", store, lambda: self.post(Wake())
        )
        # what tasks start from: the environment the host started with, but its own credentials
        self.host_env = task_environ(os.environ, config.common, self.cluster.token)
        self.masker = Masker(masked_values(self.secrets, self.cluster.token, config.common))
        self.host, self.config, self.store, self.clock, self.grace = host, config, store, clock, grace
        self.queue: asyncio.Queue[Message] = asyncio.Queue() if queue is None else queue
        self.broadcast = Broadcaster()
        self.observers: list[Callable[[dict[str, Any]], None]] = []  # see every event (metrics)
        self.journal: list[Callable[[Message, float], None]] = []  # see every message and its time
        self.ready = asyncio.Event()
        self.state = HostState(host.id, host.tags, max_runs=host.max_runs)  # written only by `_reduce`
        self.ids = RunIds(store, host.id)
        self.switch = StopSwitch(self.tell, lambda: self.state)
        self.audit = AuditTrail(store, self.tell)
        self.retention = Retainer(self)  # its `run()` is a task of the host
        self.effects = Effects(self)
        self.link: PgLink | None = None  # placement through the cluster's database (use_link)

    def use_link(self, link: PgLink) -> None:
        """Place runs through the cluster's database (before `run`): pends are claimed there."""
        self.link = link
        self.state = replace(self.state, claims=True)

    def wake_up(self, payload: str) -> None:
        """A wake-up of the cluster's database: a pend another host claimed, or something changed."""
        message = on_wake_up(payload, self.host.id, self.host.tags)
        if message is not None:
            self.post(message)

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
        the pend is durable. Raises NotFound (no such trigger), FormError (bad value) or
        FlowFileError (its flow-file cannot be had: nothing starts)."""
        trig = flow.trigger(trigger_id)
        if trig is None:
            raise NotFound(f"flow {flow.id} has no trigger {trigger_id}")
        clean = self.masker.mask_value(validate(trig.fields, values))  # a secret typed in is no value
        flow = await self.flow_files.resolve(flow)
        merged = {k: v for k, v in trig.opts.items() if k not in TRIGGER_ONLY_OPTS} | clean
        await self._promise_id()
        run_id: str = await self._ask(
            lambda r: Trigger(flow, trigger_id, merged, r, by or f"trigger {trigger_id}")
        )
        await self._durable(f"run {run_id} was created and will run", run_id)
        return run_id

    async def rerun(self, old: Run, from_node: str = "", by: str = "") -> str:
        """A new run of `old`'s exact snapshot and values (from `from_node` on, when given)."""
        await self._promise_id()
        run_id: str = await self._ask(lambda r: Rerun(old, from_node, r, by))
        await self._durable(f"run {run_id} was created and will run", run_id)
        return run_id

    async def _ask(self, request: Callable[[asyncio.Future[Any]], Message]) -> Any:
        """Post a request with a reply of its own; what the consumer replies."""
        reply: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.post(request(reply))
        return await reply

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
        await self._ask(lambda r: Answer(run_id, node_id, values, r, by, self.masker.mask_value))
        await self._durable(f"the answer to {node_id} of run {run_id} was taken")

    async def cancel(self, run_id: str, reason: str = "cancelled by user", by: str = "") -> None:
        """Cancel a run; returns once the cancel is stored (a restart then ends the run cancelled).
        On the cluster's database a pend made claimable is withdrawn there first, so no host runs
        it after the cancel answered; Conflict naming the host that claimed it a moment before."""
        run = self.state.runs.get(run_id)
        if self.link is not None and run is not None and run.status is RunStatus.PENDING:
            host = await self.link.withdraw(run_id)
            if host and host != self.host.id:
                self.post(ClaimedBy(run_id, host))
                raise Conflict(f"run {run_id} was claimed by host {host} a moment ago: it runs there")
        await self._ask(lambda r: Cancel(run_id, reason, r, by))
        await self._durable(f"run {run_id} is being cancelled")

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
        why = str(await self._ask(lambda r: Accept(run, r)))
        if why and run.flow.resource_tags:
            await self.cluster.release(run.run_id)
        await self.store.flush()
        return why

    async def lease_lost(self) -> None:
        """Another host took this one over (its lease had expired): drop the runs it resolved, then
        let every write queued for them meet the store's fence (floe/store/postgres.py) before
        this host takes a new lease."""
        await self._ask(LeaseLost)
        await self.store.flush()

    def load(self) -> dict[str, int]:
        """How busy this host is, as its peers place runs: `active` runs, `running` of them (not
        waiting on a data gate), and its `max_runs` (0: any number)."""
        active, running = busy(self.runs.values())
        return {"active": active, "running": running, "max_runs": self.host.max_runs}

    def ended_elsewhere(self, run_id: str, status: str, ended: float) -> None:
        """The host we handed a run to says it ended: keep that in our moved record."""
        self.effects.spawn(self.mark_moved_ended(run_id, status, ended))

    # ---- the consumer ------------------------------------------------------------------------
    async def run(self) -> None:
        """Recover stored runs, then consume the queue until cancelled: each message goes through
        the host reducer, and its effects are carried out at once, in order."""
        async with asyncio.TaskGroup() as tg:
            self.effects.tg = tg
            await self.ids.load()
            got = await recovered(
                self.store, self.host.id, self.ids.last, self.workspace_root, self.masker, self.state.claims
            )
            self._reduce(got, survive=False)  # a host that cannot resume its runs does not start
            self._reduce(Settle(time.monotonic()))
            await self.store.flush()
            self.ready.set()
            try:
                while True:
                    msg = await self.queue.get()
                    if (peers := tuple(self.cluster.views())) != self.state.peers:
                        self._reduce(Peers(peers))
                    self._handle(msg)
                    deadline = time.monotonic() + BATCH_SECONDS  # never paced by its readers
                    while not self.queue.empty() and time.monotonic() < deadline:
                        self._handle(self.queue.get_nowait())
                    self._reduce(Settle(time.monotonic()))
                    if not self.queue.empty():
                        await asyncio.sleep(0)  # a flood of output lines never starves the API
            finally:
                with contextlib.suppress(StoreError):  # a store closed first keeps the block's end
                    self.ids.stopping()
                self.effects.cancel_all()

    def tell(self, msg: Message) -> None:
        """Handle a message now, not after those queued (the stop switch, an audit entry): its
        effects are done when this returns. Before the host has recovered it is queued."""
        if not self.ready.is_set():
            self.post(msg)
            return
        self._reduce(msg)
        self._reduce(Settle(time.monotonic()))

    def _handle(self, msg: Message) -> None:
        if isinstance(msg, Trigger | Rerun):
            self.ids.arrived()
        self._reduce(msg)

    def _reduce(self, msg: Message, *, survive: bool = True) -> None:
        now = self.clock()
        for note in self.journal:
            note(msg, now)
        try:
            self.state, effects = handle(self.state, msg, now)
            self.effects.run(effects)
        except Exception as e:  # the consumer must survive any one bad message
            if not survive:
                raise
            if not isinstance(e, FloeError):
                log.exception("hub: %s failed", type(msg).__name__)
            reply = getattr(msg, "reply", None)
            if reply is not None and not reply.done():
                reply.set_exception(e)
