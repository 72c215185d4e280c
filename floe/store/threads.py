"""Completing a waiter's asyncio future from a store's worker thread, on the waiter's own loop."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

from floe.store.errors import StoreError


def resolve(futures: Iterable[asyncio.Future[None]], error: str | None) -> None:
    """From any thread: complete each future on its own loop (with `StoreError(error)` if given)."""
    for fut in futures:
        with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits any more
            fut.get_loop().call_soon_threadsafe(_complete, fut, error)


def _complete(fut: asyncio.Future[None], error: str | None) -> None:
    if fut.done():
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(StoreError(error))
