"""The s3 store: the host's LocalStore, archived runs uploaded behind it (durable queue, retried) to S3."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from floe.store import s3_layout as lay
from floe.store.base import Doc, RunStore
from floe.store.errors import StoreError
from floe.store.lru import Lru
from floe.store.rows import NODE_UPDATE, EventRow, decode, encode, log_lines
from floe.store.s3_artifacts import S3Artifacts
from floe.store.s3_client import S3Client, brief, safe_url
from floe.store.s3_queue import UploadQueue
from floe.store.s3_uploader import REMIND_EVERY, Uploader

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Unavailable(Exception):
    """S3 did not answer a read in time or at all: the caller serves the local store's answer."""


class S3Store:
    """A RunStore: everything in `local` (the host's working state), archived runs also in S3.

    Putting a run document with `phase == "archive"` queues the run for upload; one background
    task uploads it (its document, its index entry and its events) with retries and a capped
    exponential backoff. The queue is kept in `local`'s kv, written before the run document
    itself, so a restart during an S3 outage still uploads every archived run later. Reads ask
    `local` first, then S3 (archives of every host); if S3 does not answer within `read_deadline`
    seconds they serve `local`'s answer and log a warning, and for `cooldown` seconds after an
    outage-like failure they do not ask S3 at all. `artifacts` is the shelf of the files tasks kept.

    Threads: no lock. The queue is read and written on the event loop only; a write from another
    thread is handed to the loop and waited for (`_on_loop`).
    """

    def __init__(
        self,
        local: RunStore,
        *,
        bucket: str,
        prefix: str = "",
        endpoint: str = "",
        region: str = "",
        create_bucket: bool = True,
        timeout: float = 2.0,
        read_deadline: float = 5.0,
        retry_max: float = 10.0,
        cooldown: float = 2.0,
        concurrency: int = 8,
        cache_runs: int = 4096,
        cache_bytes: int = 32 << 20,
        close_drain: float = 3.0,
    ) -> None:
        if not bucket:
            raise ValueError("the s3 store needs a bucket")
        self.local = local
        self.bucket = bucket
        self.prefix = lay.normalize_prefix(prefix)
        self.endpoint = endpoint
        self.region = region
        self.where = f"s3://{bucket}/{self.prefix}"
        self._read_deadline = read_deadline
        self._close_drain = close_drain
        self._runs: Lru[str] = Lru(cache_runs, cache_bytes)  # run id -> encoded document
        self._logs: Lru[list[EventRow]] = Lru(64, cache_bytes)  # run id -> its events
        concurrency = max(1, concurrency)
        self._client = S3Client(
            bucket,
            endpoint=endpoint,
            region=region,
            timeout=timeout,
            workers=concurrency + 8,  # uploads plus concurrent reads
            cooldown=cooldown,
        )
        self._queue = UploadQueue(local)
        self._uploader = Uploader(
            local,
            self._queue,
            self._client,
            prefix=self.prefix,
            where=self.where,
            concurrency=concurrency,
            retry_max=retry_max,
            create_bucket=create_bucket,
        )
        self.artifacts = S3Artifacts(self._client, self.prefix, self.where, retry_max)
        self._state = "new"  # new | open | closing | closed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._read_warned = -REMIND_EVERY

    # ---- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the local store, make the S3 client and reload the upload queue; never waits on S3."""
        if self._state == "open":
            return
        if self._state != "new":
            raise StoreError(f"s3 store {self.where} is closed")
        await self.local.open()
        self._loop = asyncio.get_running_loop()
        try:
            await self._client.open()
            await self._queue.load()
        except BaseException:
            self._client.close()
            with contextlib.suppress(StoreError):
                await self.local.close()
            self._state = "closed"
            raise
        self._state = "open"
        self._uploader.start()
        log.info(
            "s3 store: archiving to %s (endpoint %s), %d runs queued for upload",
            self.where,
            safe_url(self.endpoint) or "default",
            self.pending_uploads,
        )

    async def close(self) -> None:
        """Try briefly to finish the uploads (unless S3 is failing), then close; the queue persists."""
        if self._state != "open":
            return
        self._state = "closing"
        try:
            if self._close_drain > 0 and self.upload_error is None and self.pending_uploads:
                with contextlib.suppress(StoreError):
                    await self.flush_s3(self._close_drain)
        finally:
            await self._uploader.stop()
            self._client.close()
            self._state = "closed"
            self._queue.close(f"s3 store {self.where} closed")
            with contextlib.suppress(StoreError):
                self._queue.save(force=True)
            if left := self.pending_uploads:
                log.warning(
                    "s3 store %s: closing with %d archived runs not yet uploaded; they stay queued in"
                    " the local store and are uploaded after the next start",
                    self.where,
                    left,
                )
            await self.local.close()

    # ---- writes: delegated; an archived run is queued for upload ---------------------------------

    def put_run(self, doc: Doc) -> None:
        run_id = doc.get("run_id")
        if (
            doc.get("phase") != "archive"
            or not isinstance(run_id, str)
            or not run_id
            or self._state not in ("open", "closing")
        ):
            self.local.put_run(doc)
            return
        self._on_loop(self._put_archived, run_id, doc)

    def _put_archived(self, run_id: str, doc: Doc) -> None:
        gen = self._queue.add(run_id)  # before the document: a durable archived run is always queued
        try:
            self.local.put_run(doc)
        except BaseException:
            self._queue.drop(run_id, gen)
            raise
        self._uploader.wake()

    def _on_loop(self, fn: Callable[[str, Doc], None], run_id: str, doc: Doc) -> None:
        """`fn(run_id, doc)` on the store's loop: at once when called there, else handed to the loop
        and waited for (the loop is the queue's only writer)."""
        loop = self._loop
        assert loop is not None
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop or not loop.is_running():
            fn(run_id, doc)
            return

        async def apply() -> None:
            fn(run_id, doc)

        asyncio.run_coroutine_threadsafe(apply(), loop).result()

    def append_event(self, event: Doc) -> None:
        self.local.append_event(event)

    def put_kv(self, key: str, value: Any) -> None:
        self.local.put_kv(key, value)

    async def delete_run(self, run_id: str) -> None:
        """Delete the run here and its objects in S3 (listing entry, index, events, artifacts);
        StoreError when S3 cannot delete them now (the local copy is gone then, the S3 copy stays)."""
        doc = await self.get_run(run_id)
        self._queue.drop(run_id)
        await self._queue.settled(run_id)  # an upload of it under way: its objects are put first
        await self.local.delete_run(run_id)
        self._runs.drop(run_id)
        self._logs.drop(run_id)
        if doc is None or doc.get("phase") != "archive":
            return
        self._check_open()
        keys = [lay.run_key(self.prefix, str(doc["flow"]), float(doc["created"]), run_id)]
        keys += [lay.index_key(self.prefix, run_id), lay.logs_key(self.prefix, run_id)]
        try:  # the listing entry first (the run leaves the archive), then index, events and files
            await self._client.delete_objects(keys)
            await self.artifacts.delete_run(run_id)
        except Exception as exc:
            raise StoreError(f"s3 store {self.where}: cannot delete run {run_id}: {brief(exc)}") from exc

    async def flush(self) -> None:
        """The local store's flush: never waits on S3 (see `flush_s3`)."""
        await self.local.flush()

    async def flush_s3(self, timeout: float | None = 30.0) -> None:
        """Return once every run queued before this call is uploaded; `StoreError` after `timeout` s."""
        if not self.pending_uploads:
            return
        self._check_open()
        left = await self._queue.wait(timeout)
        if left:
            raise StoreError(
                f"s3 store {self.where}: {left} runs not uploaded after {timeout}s: {self.upload_error}"
            )

    @property
    def pending_uploads(self) -> int:
        """Archived runs not yet in S3 (kept in the local store until they are)."""
        return len(self._queue)

    @property
    def upload_error(self) -> BaseException | None:
        """The last upload error while uploads are failing, else None."""
        return self._uploader.error

    # ---- reads: local first, then S3 with a deadline, falling back to local ----------------------

    async def _held_here(self, run_id: str) -> Doc | None:
        """The local document, unless it only says the run was handed to another host (`moved`):
        that host archives it to the shared bucket, which then has the real record."""
        doc = await self.local.get_run(run_id)
        return None if doc is not None and doc.get("phase") == "moved" else doc

    async def get_run(self, run_id: str) -> Doc | None:
        local = await self.local.get_run(run_id)
        if local is not None and local.get("phase") != "moved":
            return local
        found = await self._archived(run_id)
        return found if found is not None else local

    async def _archived(self, run_id: str) -> Doc | None:
        self._check_open()
        cached = self._runs.get(run_id)
        if cached is not None:
            return _doc(cached)
        try:
            (found,) = await self._read(
                f"run {run_id}",
                [lambda: self._client.fetch(lay.index_key(self.prefix, run_id), lay.parse_index)],
            )
        except _Unavailable:
            return None
        if found is None:
            return None
        self._cache_run(found)
        return found

    async def list_runs(
        self, *, phase: str, flow: str | None = None, limit: int | None = None, before: float | None = None
    ) -> list[Doc]:
        here = await self.local.list_runs(phase=phase, flow=flow, limit=limit, before=before)
        if phase != "archive" or (limit is not None and limit <= 0):
            return here
        self._check_open()
        try:
            (listed,) = await self._read(
                f"archive of {flow or 'every flow'}",
                [lambda: self._client.list_archive(self.prefix, flow, limit, before)],
            )
        except _Unavailable:
            return here
        merged: dict[str, tuple[float, Doc | None, str]] = {
            str(d["run_id"]): (float(d["created"]), d, "") for d in here
        }
        for item in listed:
            merged.setdefault(item.run_id, (item.created, None, item.key))
        page = sorted(merged.items(), key=lambda kv: (kv[1][0], kv[0]), reverse=True)[:limit]
        docs: dict[str, Doc] = {}
        missing: list[tuple[str, str]] = []
        for run_id, (_, doc, key) in page:
            if doc is None and (cached := self._runs.get(run_id)) is not None:
                doc = _doc(cached)
            if doc is None:
                missing.append((run_id, key))
            else:
                docs[run_id] = doc
        if missing:
            fetches = [_fetcher(self._client, key, lay.parse_run) for _, key in missing]
            try:
                found = await self._read(f"{len(missing)} archived runs", fetches)
            except _Unavailable:
                return here
            for (run_id, _), got in zip(missing, found, strict=True):
                if got is not None:  # else deleted since the listing
                    docs[run_id] = got
                    self._cache_run(got)
        return [docs[run_id] for run_id, _ in page if run_id in docs]

    async def events(self, run_id: str, after_seq: int = 0) -> list[Doc]:
        here = await self.local.events(run_id, after_seq)
        if here or await self._held_here(run_id) is not None:
            return here
        return [_doc(r.doc) for r in await self._remote_events(run_id) if r.seq > after_seq]

    async def node_log(self, run_id: str, node_id: str) -> list[str]:
        here = await self.local.node_log(run_id, node_id)
        if here or await self._held_here(run_id) is not None:
            return here
        rows = await self._remote_events(run_id)
        return [line for r in rows if r.node == node_id and r.tag == NODE_UPDATE for line in log_lines(r.doc)]

    async def get_kv(self, key: str) -> Any | None:
        return await self.local.get_kv(key)

    async def _remote_events(self, run_id: str) -> list[EventRow]:
        """The events of a run archived in S3 (by any host); [] when absent or S3 is unavailable."""
        self._check_open()
        cached = self._logs.get(run_id)
        if cached is not None:
            return cached
        fetch = _fetcher(self._client, lay.logs_key(self.prefix, run_id), lay.parse_logs)
        try:
            (rows,) = await self._read(f"events of run {run_id}", [fetch])
        except _Unavailable:
            return []
        if rows is None:
            return []
        self._logs.put(run_id, rows, sum(len(r.doc) for r in rows))
        return rows

    def _cache_run(self, doc: Doc) -> None:
        text = encode(doc)
        self._runs.put(str(doc["run_id"]), text, len(text))

    def _check_open(self) -> None:
        if self._state not in ("open", "closing"):
            raise StoreError(f"s3 store {self.where} is not open")

    async def _read(self, what: str, calls: Sequence[Callable[[], Awaitable[T]]]) -> list[T]:
        """Run `calls` together within `read_deadline`; `_Unavailable` (logged) if any fails."""
        if self._client.down:
            log.debug("s3 store %s: not reading %s while S3 is failing", self.where, what)
            raise _Unavailable
        try:
            async with asyncio.timeout(self._read_deadline):
                return list(await asyncio.gather(*(c() for c in calls)))
        except Exception as exc:
            self._client.failed(exc)
            now = time.monotonic()
            if now - self._read_warned >= REMIND_EVERY:
                self._read_warned = now
                log.warning(
                    "s3 store %s: cannot read %s, serving the local store's answer: %s",
                    self.where,
                    what,
                    brief(exc),
                )
            else:
                log.debug("s3 store %s: cannot read %s: %s", self.where, what, brief(exc))
            raise _Unavailable from exc


def _fetcher(
    client: S3Client, key: str, parse: Callable[[bytes, str], T]
) -> Callable[[], Awaitable[T | None]]:
    return lambda: client.fetch(key, parse)


def _doc(text: str) -> Doc:
    doc: Doc = decode(text)
    return doc
