"""The write-behind bookkeeping the local and PostgreSQL stores share: batches, tickets, waiters, errors."""

from __future__ import annotations

import asyncio

from floe.store.batch import Batch


class WriteBuffer:
    """The writes not yet committed and who waits for them. No lock of its own: every call is made
    under the store's lock, which the store's writer (a thread or a task) and the writes share.

    Each write takes a ticket and goes into `pending`; the writer takes `pending` as the batch in
    flight, and keeps that batch (retrying it) until it commits. A flush waits for the ticket of
    the last write enqueued before it; `error` and `failing_since` say whether writes are failing."""

    def __init__(self) -> None:
        self.pending = Batch()
        self.inflight: Batch | None = None
        self.held_back = Batch()  # journaled while the batch in flight hung; written after it
        self.ticket = 0  # of the last write enqueued
        self.committed = 0  # the last ticket committed
        self.waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.error: BaseException | None = None  # of the last attempt, while writes fail
        self.failing_since: float | None = None  # the first failed attempt since the last commit

    def enqueue(self) -> Batch:
        """A ticket for one more write, and the batch it goes into."""
        self.ticket += 1
        self.pending.upto = self.ticket
        return self.pending

    def batches(self) -> list[Batch]:
        """The uncommitted batches, oldest first."""
        first = [] if self.inflight is None else [self.inflight]
        return [*first, *([self.held_back] if self.held_back else []), self.pending]

    def __len__(self) -> int:
        """Records enqueued and not yet committed."""
        return sum(len(b) for b in self.batches())

    def waiter(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None] | None:
        """A future of `loop` done when every write enqueued so far is committed (None: they are)."""
        if self.committed >= self.ticket:
            return None
        fut: asyncio.Future[None] = loop.create_future()
        self.waiters.append((self.ticket, fut))
        return fut

    def take(self) -> Batch | None:
        """The batch to write: the one in flight (a retry), else the writes held back while it hung,
        else the pending writes; None if none."""
        if self.inflight is None and self.held_back:
            self.inflight, self.held_back = self.held_back, Batch()
        elif self.inflight is None and self.pending:
            self.inflight, self.pending = self.pending, Batch()
        return self.inflight

    def failed(self, exc: BaseException, now: float) -> bool:
        """An attempt failed at `now` (the batch stays in flight); True if writes were healthy."""
        first = self.error is None
        self.error = exc
        self.failing_since = now if self.failing_since is None else self.failing_since
        return first

    def done(self, batch: Batch) -> tuple[list[asyncio.Future[None]], bool]:
        """`batch` (in flight) committed: the waiters it completes, and True if writes had failed."""
        self.inflight = None
        self.committed = batch.upto
        recovered = self.error is not None
        self.error = self.failing_since = None
        ready = [f for t, f in self.waiters if t <= batch.upto]
        self.waiters = [(t, f) for t, f in self.waiters if t > batch.upto]
        return ready, recovered

    def abandon(self) -> list[asyncio.Future[None]]:
        """The writer has ended: every waiter left, taken out (its writes are not committed)."""
        waiters, self.waiters = self.waiters, []
        return [f for _, f in waiters]
