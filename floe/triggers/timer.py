"""Timer triggers: each fires every `period` seconds on its own schedule, without drift."""

from __future__ import annotations

import asyncio
import logging

from floe.hub.hub import Hub
from floe.model.flow import Flow, Node

log = logging.getLogger(__name__)


def timer_triggers(hub: Hub) -> list[tuple[Flow, Node]]:
    return [(f, t) for f in hub.config.flows for t in f.triggers if t.type == "timer"]


async def run_timers(hub: Hub) -> None:
    """One task per timer trigger; a slow one never delays another."""
    async with asyncio.TaskGroup() as tg:
        for flow, trig in timer_triggers(hub):
            tg.create_task(_tick(hub, flow, trig))


async def _tick(hub: Hub, flow: Flow, trig: Node) -> None:
    period = float(trig.opts.get("period") or 10)
    loop = asyncio.get_running_loop()
    due = loop.time() + period
    while True:
        await asyncio.sleep(max(0.0, due - loop.time()))
        due += period * max(1, int((loop.time() - due) // period) + 1)  # skip missed ticks, keep phase
        try:
            run_id = await hub.trigger(flow, trig.id, {})
            log.info("timer %s/%s started %s", flow.id, trig.id, run_id)
        except Exception:
            log.exception("timer %s/%s could not start a run", flow.id, trig.id)
