"""The `timer` task: waits `period` seconds (floe's returned at once), cancellable at any moment."""

from __future__ import annotations

import asyncio

from floe.model.opts import OptError, opt_seconds
from floe.nodes.base import NodeContext, NodeError, Outcome


async def execute(ctx: NodeContext) -> Outcome:
    """Sleep for opt `period` seconds, then succeed; a missing or bad period is a NodeError."""
    try:
        period = opt_seconds(ctx.opts, "period")
    except OptError as exc:
        raise NodeError(str(exc)) from exc
    ctx.log(f"waiting {period:g}s")
    await asyncio.sleep(period)
    ctx.log(f"waited {period:g}s")
    return Outcome(0)
