"""Timer triggers: `period` seconds or a `cron` expression, on absolute deadlines kept across restarts."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import zoneinfo
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any

from croniter import croniter

from floe.triggers.parts import TriggerParts
from floe.triggers.status import TriggerKey, TriggerStatus

log = logging.getLogger(__name__)

DEFAULT_PERIOD = 10  # floe's default when `period` is missing or not an integer
MAX_SLEEP = 30.0  # the wall clock is re-read at least this often (clock steps, suspend)
FINISH_GRACE = 10.0  # seconds a fire in progress may still take once its trigger is stopped


@dataclass(frozen=True, slots=True)
class TimerSpec:
    """When a timer fires: every `period` seconds, or at the slots of `cron` in time zone `tz`."""

    period: float | None = None
    cron: str | None = None
    tz: tzinfo = UTC

    @property
    def signature(self) -> str:
        """Identifies the schedule: stored state of a different schedule is not reused."""
        if self.cron is not None:
            return f"cron={self.cron} tz={self.tz}"
        return f"period={self.period:g}"


def local_zone() -> tzinfo:
    """The host's time zone: `$TZ`, else /etc/localtime, else UTC."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
            log.warning("TZ=%s is not a known time zone: using UTC", name)
            return UTC
    try:
        with Path("/etc/localtime").open("rb") as f:
            return zoneinfo.ZoneInfo.from_file(f, key="localtime")
    except (OSError, ValueError):
        return UTC


def timer_spec(opts: Mapping[str, Any]) -> TimerSpec:
    """The schedule of a timer trigger's opts (checked at load; a bad value raises ValueError)."""
    cron = opts.get("cron")
    if cron is not None:
        if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
            raise ValueError(f"cron {cron!r} is not a cron expression of 5 fields")
        tz_name = opts.get("tz")
        tz = zoneinfo.ZoneInfo(tz_name) if isinstance(tz_name, str) and tz_name else local_zone()
        return TimerSpec(cron=cron, tz=tz)
    period = opts.get("period")
    if isinstance(period, bool) or not isinstance(period, int) or period < 1:
        period = DEFAULT_PERIOD
    return TimerSpec(period=float(period))


def _cron_after(spec: TimerSpec, t: float) -> float:
    """The first slot strictly after `t`."""
    assert spec.cron is not None
    nxt: float = croniter(spec.cron, datetime.fromtimestamp(t, spec.tz)).get_next(float)
    return nxt


def _cron_at_or_before(spec: TimerSpec, t: float) -> float:
    """The last slot at or before `t`."""
    assert spec.cron is not None
    prev: float = croniter(spec.cron, datetime.fromtimestamp(t, spec.tz)).get_prev(float)
    nxt = _cron_after(spec, prev)
    return nxt if nxt <= t else prev


def next_fire(spec: TimerSpec, last: float | None, now: float) -> float:
    """The deadline of the next fire, given the last slot fired (or when the timer was armed).

    Pure. `last` None (never armed): the first slot after `now` (`now + period` for a period timer,
    as floe: the first fire is a period after start). A result `<= now` means "fire now": one or more
    slots were missed (the host was down, or a fire took longer than the period), and the result
    is the latest of them, so the missed slots fire once, together, and the phase is kept.
    """
    if spec.cron is not None:
        if last is None:
            return _cron_after(spec, now)
        due = _cron_after(spec, last)
        return due if due > now else _cron_at_or_before(spec, now)
    assert spec.period is not None
    period = spec.period
    if last is None:
        return now + period
    due = last + period
    if due > now:
        return due
    return last + period * math.floor((now - last) / period)


async def sleep_until(deadline: float, clock: Callable[[], float]) -> None:
    """Sleep until the wall clock `clock()` reaches `deadline` (re-read at least every MAX_SLEEP s)."""
    while True:
        left = deadline - clock()
        if left <= 0:
            return
        await asyncio.sleep(min(left, MAX_SLEEP))


async def finish(step: Awaitable[None], grace: float = FINISH_GRACE) -> None:
    """Run `step` to its end even when cancelled meanwhile (for at most `grace` more seconds), then
    re-raise the cancellation: a fire and the record of it are not split by a reload or shutdown."""
    task = asyncio.ensure_future(step)
    cancelled = False
    deadline: float | None = None
    loop = asyncio.get_running_loop()
    while not task.done():
        try:
            if deadline is None:
                await asyncio.shield(task)
            else:
                await asyncio.wait_for(asyncio.shield(task), max(0.0, deadline - loop.time()))
        except asyncio.CancelledError:
            cancelled = True
            deadline = deadline or loop.time() + grace
        except TimeoutError:
            task.cancel()
            await asyncio.wait([task])
            break
    if cancelled:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.warning("trigger step failed while stopping: %s", task.exception())
        raise asyncio.CancelledError
    task.result()


async def run_timer(parts: TriggerParts, key: TriggerKey, status: TriggerStatus) -> None:
    """Fire the timer trigger `key` on its schedule until cancelled.

    The state `timer/<flow>/<trigger>` in the store's kv holds the schedule's signature and its
    anchor (the last slot fired, or when the timer was first armed). A restart reads it: a slot
    still ahead is awaited (no double fire); slots missed while the host was down fire once at start.
    """
    current = key.current(parts.config())
    if current is None:
        return
    spec = timer_spec(current[1].opts)
    state_key = key.state_key("timer")
    state = await parts.store.get_kv(state_key)
    anchor: float | None = None
    if isinstance(state, dict) and state.get("spec") == spec.signature:
        value = state.get("anchor")
        if isinstance(value, int | float) and not isinstance(value, bool):
            anchor = float(value)
    if anchor is None:
        anchor = parts.clock()
        parts.store.put_kv(state_key, {"spec": spec.signature, "anchor": anchor, "last_fire": None})
        await parts.store.flush()
    while True:
        due = next_fire(spec, anchor, parts.clock())
        status.scheduled(key, due)
        await sleep_until(due, parts.clock)
        await finish(_fire(parts, key, status, spec, state_key, due))
        anchor = due


async def _fire(
    parts: TriggerParts, key: TriggerKey, status: TriggerStatus, spec: TimerSpec, state_key: str, slot: float
) -> None:
    now = parts.clock()
    current = key.current(parts.config())
    if current is not None:
        flow, trig = current
        try:
            run_id = await parts.start(flow, trig.id, {})
        except Exception as e:  # a bad flow-file, a hub error: logged and shown, the timer goes on
            log.warning("timer %s could not start a run: %s", key, e)
            status.failed(key, str(e), now)
        else:
            log.info("timer %s started %s", key, run_id)
            status.fired(key, now, run_id)
    # recorded after the pend is durable: a crash in between may fire this slot again, never skip it
    parts.store.put_kv(state_key, {"spec": spec.signature, "anchor": slot, "last_fire": now})
    await parts.store.flush()
