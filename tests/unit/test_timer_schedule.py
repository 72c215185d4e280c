"""The timer schedule with an injected clock: period, cron in a time zone, restarts, no drift."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from floe.triggers.timer import DEFAULT_PERIOD, TimerSpec, finish, next_fire, timer_spec

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def ts(year: int, month: int, day: int, hour: int, minute: int, tz: ZoneInfo | None = None) -> float:
    return datetime(year, month, day, hour, minute, tzinfo=tz or UTC).timestamp()


def test_period_first_fire_is_a_period_after_arming() -> None:
    spec = TimerSpec(period=10)
    assert next_fire(spec, None, 1000.0) == 1010.0


def test_period_next_slot_is_absolute() -> None:
    spec = TimerSpec(period=10)
    assert next_fire(spec, 1000.0, 1003.7) == 1010.0
    assert next_fire(spec, 1010.0, 1010.2) == 1020.0


def test_period_no_drift_over_hours_despite_late_wakeups() -> None:
    spec = TimerSpec(period=7)
    rng = random.Random(5)
    anchor = now = 0.0
    fires = []
    for _ in range(3 * 3600 // 7):  # three hours of fires, each woken and finished up to 0.5 s late
        due = next_fire(spec, anchor, now)
        now = max(now, due) + rng.random() * 0.5
        fires.append(due)
        anchor = due
    assert fires == [7.0 * (i + 1) for i in range(len(fires))]


def test_missed_slots_fire_once_then_the_phase_is_kept() -> None:
    spec = TimerSpec(period=60)
    # armed (or last fired) at 0; the host was down until 1000: the slots 60..960 were missed
    due = next_fire(spec, 0.0, 1000.0)
    assert due == 960.0  # the latest missed slot, <= now: fire once, at once
    # after that one fire the next is the next slot of the same phase, not another catch-up
    assert next_fire(spec, due, 1000.5) == 1020.0


def test_restart_before_the_next_slot_does_not_fire_again() -> None:
    spec = TimerSpec(period=60)
    # fired the 960 slot, restarted at 970: the next fire is 1020
    assert next_fire(spec, 960.0, 970.0) == 1020.0


def test_exactly_on_the_deadline_fires() -> None:
    spec = TimerSpec(period=10)
    assert next_fire(spec, 100.0, 110.0) == 110.0


def test_a_fire_slower_than_the_period_coalesces() -> None:
    spec = TimerSpec(period=1)
    # the fire of slot 5 took until 8.3: slots 6, 7, 8 collapse into one fire of slot 8
    assert next_fire(spec, 5.0, 8.3) == 8.0
    assert next_fire(spec, 8.0, 8.31) == 9.0


def test_cron_in_a_time_zone_across_daylight_saving() -> None:
    spec = TimerSpec(cron="0 9 * * *", tz=LONDON)
    # Saturday 30 March 2024 10:00 UTC; the clocks go forward that night
    now = ts(2024, 3, 30, 10, 0)
    due = next_fire(spec, None, now)
    assert due == ts(2024, 3, 31, 9, 0, tz=LONDON) == ts(2024, 3, 31, 8, 0)
    assert next_fire(spec, due, due + 1) == ts(2024, 4, 1, 8, 0)  # 09:00 BST
    ny = TimerSpec(cron="30 17 * * 1-5", tz=NEW_YORK)  # weekdays 17:30 in New York
    friday = ts(2024, 7, 5, 22, 0)  # Friday 18:00 in New York (EDT)
    assert next_fire(ny, None, friday) == ts(2024, 7, 8, 17, 30, tz=NEW_YORK) == ts(2024, 7, 8, 21, 30)


def test_cron_missed_while_down_fires_the_latest_slot_once() -> None:
    spec = TimerSpec(cron="0 9 * * *", tz=LONDON)
    monday = ts(2024, 1, 8, 9, 0, tz=LONDON)
    thursday_noon = ts(2024, 1, 11, 12, 0, tz=LONDON)
    due = next_fire(spec, monday, thursday_noon)
    assert due == ts(2024, 1, 11, 9, 0, tz=LONDON)  # once, for the Tuesday..Thursday slots
    assert next_fire(spec, due, thursday_noon + 1) == ts(2024, 1, 12, 9, 0, tz=LONDON)


def test_cron_restart_between_slots_waits_for_the_next() -> None:
    spec = TimerSpec(cron="*/15 * * * *", tz=UTC)
    fired = ts(2024, 1, 1, 10, 15)
    assert next_fire(spec, fired, ts(2024, 1, 1, 10, 20)) == ts(2024, 1, 1, 10, 30)
    # on the slot itself (a restart exactly at 10:30) it fires that slot
    assert next_fire(spec, fired, ts(2024, 1, 1, 10, 30)) == ts(2024, 1, 1, 10, 30)


def test_timer_spec_from_opts() -> None:
    assert timer_spec({"period": 300, "url": "x"}) == TimerSpec(period=300)
    assert timer_spec({}) == TimerSpec(period=DEFAULT_PERIOD)
    assert timer_spec({"period": "soon"}) == TimerSpec(period=DEFAULT_PERIOD)  # floe's default
    spec = timer_spec({"cron": "0 3 * * *", "tz": "Europe/London"})
    assert spec.cron == "0 3 * * *" and spec.tz == LONDON
    assert timer_spec({"cron": "0 3 * * *"}).tz is not None  # the host's zone
    assert spec.signature != timer_spec({"cron": "0 4 * * *", "tz": "Europe/London"}).signature
    with pytest.raises(ValueError):
        timer_spec({"cron": "every day"})


async def test_finish_completes_a_fire_despite_cancellation() -> None:
    done = asyncio.Event()
    release = asyncio.Event()

    async def fire() -> None:
        await release.wait()
        done.set()

    task = asyncio.create_task(finish(fire()))
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.sleep(0)
    assert not task.done()  # still waiting for the fire to complete
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert done.is_set()


async def test_finish_gives_up_after_its_grace() -> None:
    async def stuck() -> None:
        await asyncio.Event().wait()

    task = asyncio.create_task(finish(stuck(), grace=0.05))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
