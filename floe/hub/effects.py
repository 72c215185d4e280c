"""The hub's hands: carries out the host reducer's effects, in order, and owns the runs' tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

from floe.cluster.client import PeerError
from floe.config.secrets import in_scope
from floe.hub.records import stored_run
from floe.hub.runner import RunTasks, workspace_path
from floe.model.codec import run_doc
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
    PersistSoon,
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
from floe.model.errors import FloeError
from floe.model.messages import Admitted, Claimed, Offered, PersistDue, Reserved, Stopped, Stored
from floe.model.policy import Rejected
from floe.model.run import Run, Start
from floe.store.base import Handed
from floe.store.errors import DamagedRecord, StoreError
from floe.store.shelf import shelf_of

if TYPE_CHECKING:
    from floe.cluster.pg_link import PgLink
    from floe.hub.hub import Hub

log = logging.getLogger(__name__)
LINK_RETRY = 1.0  # seconds between tries of a placement change while the database is away


class Effects:
    """Runs each effect as it comes; those that wait (a peer, the store) run as tasks of the hub's
    TaskGroup and answer with a message on the hub's queue."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.tg: asyncio.TaskGroup | None = None
        self.tasks: dict[str, RunTasks] = {}  # the tasks of the runs in the state's `tasks`
        self.claiming = self.claim_again = False  # one claim at a time; asked again meanwhile

    def run(self, effects: list[Effect]) -> None:
        hub, store = self.hub, self.hub.store
        for e in effects:
            match e:
                case PutRun(doc):  # the reducer's documents are built for this and never changed:
                    store.put_run(Handed(doc))  # the store may encode them on its own thread
                case AppendEvents(docs):
                    for doc in docs:
                        store.append_event(Handed(doc))
                case PutKv(key, value):
                    store.put_kv(key, value)
                case Publish(docs, observe):
                    for doc in docs:
                        hub.broadcast.publish(doc)
                        for see in hub.observers if observe else ():
                            see(doc)
                case PublishStored(docs):
                    self.spawn(self._publish_stored(docs))
                case StartRunner(run, fresh):
                    self._start_runner(run, fresh)
                case StartNodes(run_id, starts):
                    if (tasks := self.tasks.get(run_id)) is not None:
                        for start in starts:
                            tasks.start(start)
                case AwaitStored(held):
                    self.spawn(self._await_stored(held))
                case CancelTasks(run_id):
                    tasks = self.tasks.pop(run_id, None)
                    if tasks is not None and tasks.task is not None and not tasks.task.done():
                        tasks.task.cancel()
                case Offer(run, host):
                    self.spawn(self._offer(run, host))
                case Reserve(run_id, tags):
                    self.spawn(self._reserve(run_id, tags))
                case Release(run_id):
                    self.spawn(hub.cluster.release(run_id))
                case AddPend(run):
                    self.spawn(self._add_pend(run))
                case Claim():
                    self._claim_soon()
                case Admit():
                    self.spawn(self._admit(e))
                case Unadmit(run_id):
                    self.spawn(self._on_link("drop its admission", run_id, lambda link: link.forget(run_id)))
                case PlaceState(run_id, gate, node):
                    self.spawn(
                        self._on_link(
                            "note its state", run_id, lambda link: link.place_state(run_id, gate, node)
                        )
                    )
                case Unplace(run_id):
                    self.spawn(self._on_link("free run", run_id, lambda link: link.release(run_id)))
                case Unpend(run_id):
                    self.spawn(self._on_link("drop pend", run_id, lambda link: link.unpend(run_id)))
                case TellEnded(host, run_id, status, ended):
                    if hub.cluster.peer(host) is not None:
                        self.spawn(self._tell_ended(host, run_id, {"status": status, "ended": ended}))
                case WakePeers():
                    load = {"id": hub.host.id, **hub.load()}
                    for online in hub.cluster.online():
                        self.spawn(_quietly(online.client.call("POST", "/wake", load)))
                case CountHanded(host):
                    if (peer := hub.cluster.peer(host)) is not None:
                        peer.active += 1  # until its next hello says how busy it really is
                case TookId(number):
                    hub.ids.took(number)
                case Retain(flow_id):
                    hub.retention.note(flow_id)
                case PersistSoon(delay):
                    asyncio.get_running_loop().call_later(delay, hub.post, PersistDue())
                case Resolve(reply, value):
                    if not reply.done():
                        reply.set_result(value)
                case Fail(reply, error):
                    if not reply.done():
                        reply.set_exception(error)
                case Log(text, level):
                    log.log(level, "%s", text)

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self.tg is None:
            coro.close()
            return
        self.tg.create_task(coro)

    def cancel_all(self) -> None:
        for tasks in self.tasks.values():
            if tasks.task:
                tasks.task.cancel()

    def _start_runner(self, run: Run, fresh: bool) -> None:
        assert self.tg is not None
        hub, common = self.hub, self.hub.config.common
        copy = (
            workspace_path(hub.workspace_root, run.flow, run.workspace_from)
            if fresh and run.workspace_from
            else None
        )
        tasks = RunTasks(
            run.run_id,
            run.flow,
            workspace_path(hub.workspace_root, run.flow, run.run_id),
            hub.cache_dir,
            hub.post,
            fresh=fresh,
            store_root=Path(common.store_root),
            shelf=shelf_of(hub.store),
            git_key=common.git_key,
            grace=hub.grace,
            secrets=in_scope(hub.secrets, common.secrets, run.flow.id),
            masker=hub.masker,
            host_env=hub.host_env,
            copy_from=copy,
        )
        self.tasks[run.run_id] = tasks
        tasks.task = self.tg.create_task(self._own(tasks))

    async def _own(self, tasks: RunTasks) -> None:
        try:
            await tasks.main()
        finally:
            self.hub.post(Stopped(tasks.run_id))

    async def _await_stored(self, held: tuple[tuple[str, tuple[Start, ...]], ...]) -> None:
        """Wait for the store to write the activations and answers whose nodes are `held`. Were
        they started first, a restart could find the run still pending or its gate still waiting
        (its activation or answer lost with the process) and start them again. While the store
        cannot write they wait, as nothing they do could be recorded."""
        told = False
        while True:
            try:
                await self.hub.store.flush()
                break
            except StoreError as e:
                if not told:
                    told = True
                    log.error("nodes of %d runs wait for the store to write: %s", len(held), e)
        self.hub.post(Stored(held))

    async def _publish_stored(self, docs: tuple[dict[str, Any], ...]) -> None:
        """Publish a run's last events once the store has committed its end, so a client that saw
        a run end never finds it otherwise after a crash (unless the store has been failing for its
        flush timeout: then they are published anyway, and the writes are still being retried)."""
        with contextlib.suppress(StoreError):
            await self.hub.store.flush()
        self.run([Publish(docs)])

    async def _offer(self, run: Run, host: str) -> None:
        peer = self.hub.cluster.peer(host)
        try:
            if peer is None:
                raise PeerError(f"host {host} unknown")
            taken, why = await peer.client.offer(run_doc(run))
            self.hub.post(Offered(run.run_id, host, taken, why))
        except PeerError as e:  # pinned to that host only if the offer may have reached it
            why = f"host {host} unreachable ({e})"
            self.hub.post(Offered(run.run_id, host, False, why, unknown=e.delivered))

    async def _reserve(self, run_id: str, tags: tuple[str, ...]) -> None:
        self.hub.post(Reserved(run_id, await self.hub.cluster.acquire(run_id, tags)))

    def _link(self) -> PgLink:
        link = self.hub.link
        assert link is not None, "placement through the database needs the host's link"
        return link

    async def _add_pend(self, run: Run) -> None:
        """Make the pend claimable once its document is stored (a claimer reads it from there)."""
        flow, link = run.flow, self._link()

        async def add() -> None:
            await self.hub.store.flush()
            pin = (await self._workspace_host(run), run.workspace_from)
            await link.add_pend(run.run_id, flow.id, flow.host_tags, flow.resource_tags, run.created, pin)

        await self._until_done("be made claimable", run.run_id, add)

    async def _admit(self, asked: Admit) -> None:
        """Admit a run by its policies counted across the cluster; the answer comes as Admitted."""
        try:
            rejection = await self._link().admit(asked.run_id, asked.flow, asked.trigger, asked.values)
            refused: FloeError | None = None if rejection is None else Rejected(rejection)
        except StoreError as e:
            refused = e
        self.hub.post(Admitted(asked.request, asked.run_id, refused))

    async def _workspace_host(self, run: Run) -> str:
        """The host holding the workspace a partial re-run starts from: its earlier run's ("" for
        another run, or when the earlier run is no longer stored or cannot be read)."""
        if not run.workspace_from:
            return ""
        with contextlib.suppress(DamagedRecord):
            if (doc := await self.hub.store.get_run(run.workspace_from)) is not None:
                return str(doc.get("exec_host") or "")
        return ""

    async def _on_link(self, what: str, run_id: str, call: Callable[[PgLink], Awaitable[None]]) -> None:
        link = self._link()
        await self._until_done(what, run_id, lambda: call(link))

    async def _until_done(self, what: str, run_id: str, call: Callable[[], Awaitable[None]]) -> None:
        """Do `call` on the database, again every LINK_RETRY seconds while the database is away
        (an outage must not leave a pend unclaimable or a resource tag held)."""
        told = False
        while True:
            try:
                await call()
                if told:
                    log.warning("<%s> could %s in the database now", run_id, what)
                return
            except StoreError as e:
                if not told:
                    told = True
                    log.error("<%s> could not %s in the database: %s (retried)", run_id, what, e)
            await asyncio.sleep(LINK_RETRY)

    def _claim_soon(self) -> None:
        if self.claiming:
            self.claim_again = True
            return
        self.claiming = True
        self.spawn(self._claim())

    async def _claim(self) -> None:
        """Claim until a claim takes less than it may and no wake-up came meanwhile; the runs taken
        (as stored) and the pends' reasons come back as Claimed."""
        try:
            more = True
            while more or self.claim_again:
                self.claim_again = False
                taken, reasons = await self._link().claim()
                more = len(taken) >= self._link().claim_limit
                runs = [run for run_id in taken if (run := await self._claimed_run(run_id))]
                self.hub.post(Claimed(tuple(runs), reasons))
        except StoreError as e:
            log.error("claim failed: %s (claimed again on the next wake-up)", e)
        finally:
            self.claiming = False

    async def _claimed_run(self, run_id: str) -> Run | None:
        """The stored run a claim placed here (read again while the store fails: the claim is
        committed); None, with its placement freed, when its document is missing or unreadable
        (that run is left as it is in the store; the batch's other runs start)."""
        told = False
        while True:
            try:
                doc = await self.hub.store.get_run(run_id)
                if doc is not None:
                    return stored_run(doc)
                why = "its document is not stored"
                break
            except DamagedRecord as e:
                why = f"its document cannot be read ({e}): it is left as it is in the store"
                break
            except StoreError as e:
                if not told:
                    told = True
                    log.error("<%s> claimed, but the store cannot read it now: %s (retried)", run_id, e)
            await asyncio.sleep(LINK_RETRY)
        log.error("<%s> claimed, but %s; its placement is freed", run_id, why)
        self.spawn(self._on_link("free run", run_id, lambda link: link.release(run_id)))
        return None

    async def _tell_ended(self, host: str, run_id: str, body: dict[str, Any]) -> None:
        peer = self.hub.cluster.peer(host)
        try:
            if peer is not None:
                await peer.client.call("POST", f"/runs/{run_id}/ended", body)
        except PeerError as e:
            log.info("<%s> could not tell %s it ended: %s", run_id, host, e)


async def _quietly(call: Awaitable[Any]) -> None:
    with contextlib.suppress(PeerError):
        await call
