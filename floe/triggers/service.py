"""A host's triggers: every timer and poll-git trigger in its own task, following config reloads."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from floe.model.flow import Flow, Node
from floe.triggers.deliveries import Deliveries
from floe.triggers.parts import TriggerParts
from floe.triggers.poll_git import run_poller
from floe.triggers.run_now import run_now
from floe.triggers.status import TriggerKey, TriggerStatus, trigger_keys
from floe.triggers.timer import run_timer

log = logging.getLogger(__name__)

Runner = Callable[[TriggerParts, TriggerKey, TriggerStatus], Awaitable[None]]
RUNNERS: dict[str, Runner] = {"timer": run_timer, "poll-git": run_poller}
SHOWN = frozenset({"timer", "poll-git", "webhook"})  # trigger types with a status
RESTART_DELAY = 5.0  # seconds before a trigger task that crashed is started again

Running = dict[TriggerKey, tuple[tuple[Any, ...], asyncio.Task[None]]]


class Triggers:
    """The triggers of one host, built by the composition root: `run()` is a task of the host,
    `status` what the API shows, `deliveries` the webhooks' memory, `run_now` the flow page's button."""

    def __init__(self, parts: TriggerParts, status: TriggerStatus) -> None:
        self.parts, self.status = parts, status
        self.deliveries = Deliveries(parts.store, parts.clock)
        self._changed = asyncio.Event()

    def config_changed(self) -> None:
        """The running config was replaced (a reload): `run()` restarts the triggers that changed."""
        self._changed.set()

    async def run_now(self, flow: Flow, trig: Node, ref: str = "", by: str = "") -> str:
        """Start a run of `trig` now (see `floe.triggers.run_now`); its run id."""
        return await run_now(self.parts, self.status, flow, trig, ref, by)

    async def run(self) -> None:
        """Run the timer and poll-git triggers until cancelled, one task each in a TaskGroup, so a
        slow one never delays another. Webhook triggers are served by the API; they are only
        registered in the status. After `config_changed()`, triggers that were removed or changed
        are stopped (a fire in progress completes first) and new ones started; unchanged ones
        keep running."""
        running: Running = {}
        async with asyncio.TaskGroup() as tg:
            while True:
                self._changed.clear()
                await self._sync(tg, running)
                await self._changed.wait()

    def _signature(self, trig: Node) -> tuple[Any, ...]:
        """What a running trigger task depends on; a reload that changes it restarts the task."""
        return (trig.type, repr(sorted(trig.opts.items())), self.parts.config().common.git_key)

    async def _supervise(self, runner: Runner, key: TriggerKey) -> None:
        """Run one trigger; a crash is logged, shown, and the trigger started again after a delay."""
        while True:
            try:
                await runner(self.parts, key, self.status)
                return
            except Exception as e:
                log.exception("trigger %s failed; restarting it in %gs", key, RESTART_DELAY)
                self.status.failed(key, f"internal error: {type(e).__name__}: {e}", self.parts.clock())
            await asyncio.sleep(RESTART_DELAY)  # a backoff, not a synchronisation

    async def _sync(self, tg: asyncio.TaskGroup, running: Running) -> None:
        wanted = {key: trig for key, trig in trigger_keys(self.parts.config()) if trig.type in SHOWN}
        stopping: list[asyncio.Task[None]] = []
        for key in list(running):
            sig, task = running[key]
            trig = wanted.get(key)
            if trig is None or self._signature(trig) != sig or task.done():
                task.cancel()
                stopping.append(task)
                del running[key]
        if stopping:
            await asyncio.wait(stopping)  # the old task's state is written before its successor reads it
        self.status.retain(set(wanted))
        for key, trig in wanted.items():
            self.status.register(key, trig.type)
            runner = RUNNERS.get(trig.type)
            if runner is None or key in running:
                continue
            task = tg.create_task(self._supervise(runner, key), name=f"trigger {key}")
            running[key] = (self._signature(trig), task)
        log.info("triggers: %d running", len(running))
