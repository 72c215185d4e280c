"""Runs every timer and poll-git trigger of a hub, each in its own task, and follows config reloads."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from floe.hub.hub import Hub
from floe.model.flow import Node
from floe.triggers.poll_git import run_poller
from floe.triggers.status import TriggerKey, TriggerStatus, set_status, status_for, trigger_keys
from floe.triggers.timer import run_timer

log = logging.getLogger(__name__)

Runner = Callable[[Hub, TriggerKey, TriggerStatus], Awaitable[None]]
RUNNERS: dict[str, Runner] = {"timer": run_timer, "poll-git": run_poller}
SHOWN = frozenset({"timer", "poll-git", "webhook"})  # trigger types with a status
RESTART_DELAY = 5.0  # seconds before a trigger task that crashed is started again

_CHANGED: weakref.WeakKeyDictionary[Hub, asyncio.Event] = weakref.WeakKeyDictionary()


def _changed(hub: Hub) -> asyncio.Event:
    event = _CHANGED.get(hub)
    if event is None:
        event = _CHANGED[hub] = asyncio.Event()
    return event


def config_changed(hub: Hub) -> None:
    """Tell run_triggers that `hub.config` was replaced: it restarts the triggers that changed."""
    _changed(hub).set()


def _signature(hub: Hub, trig: Node) -> tuple[Any, ...]:
    """What a running trigger task depends on; a reload that changes it restarts the task."""
    return (trig.type, repr(sorted(trig.opts.items())), hub.config.common.git_key)


async def _supervise(runner: Runner, hub: Hub, key: TriggerKey, status: TriggerStatus) -> None:
    """Run one trigger; a crash is logged, shown, and the trigger started again after a delay."""
    while True:
        try:
            await runner(hub, key, status)
            return
        except Exception as e:
            log.exception("trigger %s failed; restarting it in %gs", key, RESTART_DELAY)
            status.failed(key, f"internal error: {type(e).__name__}: {e}", hub.clock())
        await asyncio.sleep(RESTART_DELAY)  # a backoff, not a synchronisation


async def run_triggers(hub: Hub, status: TriggerStatus | None = None) -> None:
    """Run the hub's timer and poll-git triggers until cancelled, one task each in a TaskGroup, so a
    slow one never delays another. Webhook triggers are served by the API; they are only registered
    in the status. After `config_changed(hub)` (a reload), triggers that were removed or changed are
    stopped (a fire in progress completes first) and new ones started; unchanged ones keep running."""
    await hub.ready.wait()
    if status is None:
        status = status_for(hub)
    else:
        set_status(hub, status)
    changed = _changed(hub)
    running: dict[TriggerKey, tuple[tuple[Any, ...], asyncio.Task[None]]] = {}
    async with asyncio.TaskGroup() as tg:
        while True:
            changed.clear()
            await _sync(hub, status, tg, running)
            await changed.wait()


async def _sync(
    hub: Hub,
    status: TriggerStatus,
    tg: asyncio.TaskGroup,
    running: dict[TriggerKey, tuple[tuple[Any, ...], asyncio.Task[None]]],
) -> None:
    wanted = {key: trig for key, trig in trigger_keys(hub) if trig.type in SHOWN}
    stopping: list[asyncio.Task[None]] = []
    for key in list(running):
        sig, task = running[key]
        trig = wanted.get(key)
        if trig is None or _signature(hub, trig) != sig or task.done():
            task.cancel()
            stopping.append(task)
            del running[key]
    if stopping:
        await asyncio.wait(stopping)  # the old task's state is written before its successor reads it
    status.retain(set(wanted))
    for key, trig in wanted.items():
        status.register(key, trig.type)
        runner = RUNNERS.get(trig.type)
        if runner is None or key in running:
            continue
        task = tg.create_task(_supervise(runner, hub, key, status), name=f"trigger {key}")
        running[key] = (_signature(hub, trig), task)
    log.info("triggers: %d running", len(running))
