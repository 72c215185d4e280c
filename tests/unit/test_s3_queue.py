"""The S3 store's upload queue on a real MemoryStore: order, generations, waits, what a restart reloads."""

from __future__ import annotations

import asyncio

import pytest

from floe.store.errors import StoreError
from floe.store.memory import MemoryStore
from floe.store.s3_queue import UploadQueue


async def test_a_run_archived_again_goes_to_the_back_and_its_old_upload_does_not_drop_it() -> None:
    q = UploadQueue(MemoryStore())
    first = q.add("h1-1")
    second = q.add("h1-2")
    assert q.take(1) == [("h1-1", first)]  # in flight now: not taken twice
    again = q.add("h1-1")  # archived again while its upload runs: to the back
    assert q.take(5) == [("h1-2", second)]
    q.done("h1-1", first, uploaded=True)  # the older document went up: the newer one stays queued
    q.done("h1-2", second, uploaded=False)  # failed: to the back, behind h1-1
    assert len(q) == 2 and q.take(5) == [("h1-1", again), ("h1-2", second)]
    q.done("h1-1", again, uploaded=True)
    q.done("h1-2", second, uploaded=True)
    assert len(q) == 0


async def test_a_wait_returns_once_the_runs_queued_before_it_left_or_says_how_many_are_left() -> None:
    q = UploadQueue(MemoryStore())
    assert await q.wait(0) == 0  # nothing queued
    gen = q.add("h1-1")
    q.add("h1-2")
    assert await q.wait(0.01) == 2
    q.drop("h1-1", gen)
    assert await q.wait(0.01) == 1
    q.drop("h1-2")
    assert await q.wait(None) == 0
    q.add("h1-3")
    q.close("s3 store x closed")
    assert await q.wait(0.01) == 1  # a wait that starts after close is not failed by it


async def test_close_fails_the_waits_under_way() -> None:
    q = UploadQueue(MemoryStore())
    q.add("h1-1")
    waiting = asyncio.ensure_future(q.wait(None))
    await asyncio.sleep(0)  # one turn of the loop: the wait registers (no timed wait)
    q.close("s3 store x closed")
    with pytest.raises(StoreError, match="closed with 1 runs not uploaded"):
        await waiting


async def test_a_restart_reloads_what_was_queued_and_not_what_was_saved_as_uploaded() -> None:
    local = MemoryStore()
    q = UploadQueue(local)
    for i in range(1, 5):
        q.add(f"h1-{i}")
    q.drop("h1-2")
    q.save(force=True)
    q.drop("h1-3")  # not saved yet: uploaded again after a restart, harmlessly
    again = UploadQueue(local)
    await again.load()
    assert sorted(r for r, _ in again.take(10)) == ["h1-1", "h1-3", "h1-4"]
