"""DESIGN: the host's LocalStore plus archived runs uploaded behind (durable queue, retried) to shared S3."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from urllib.parse import urlsplit, urlunsplit

import boto3.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from floe.store import s3_layout as lay
from floe.store.base import Doc, RunStore
from floe.store.codec import NODE_UPDATE, EventRow, decode, encode, log_line
from floe.store.errors import StoreError
from floe.store.threads import resolve

log = logging.getLogger(__name__)
T = TypeVar("T")
V = TypeVar("V")

PENDING_SHARDS = 32  # the upload queue lives in the local kv as this many sets of run ids
PENDING_KEY = "s3/pending/"  # + two digits: one shard
_REMIND_EVERY = 30.0  # seconds between repeated warnings while S3 keeps failing
_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})


class _Unavailable(Exception):
    """S3 did not answer a read in time or at all: the caller serves the local store's answer."""


class _Lru(Generic[V]):
    """Values by key; the least recently used go first beyond `max_items` or `max_bytes`."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self._items: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._max_items, self._max_bytes, self._bytes = max_items, max_bytes, 0

    def get(self, key: str) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def drop(self, key: str) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]

    def put(self, key: str, value: V, size: int) -> None:
        if size > self._max_bytes or self._max_items <= 0:
            return
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]
        self._items[key] = (value, size)
        self._bytes += size
        while len(self._items) > self._max_items or self._bytes > self._max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= dropped


@dataclass(slots=True, eq=False)
class _Waiter:
    """A `flush_s3` call: waits for the `left` queue entries of generation <= `upto` to leave."""

    upto: int
    left: int
    fut: asyncio.Future[None]


class S3Store:
    """A RunStore: everything in `local` (the host's working state), archived runs also in S3.

    Putting a run document with `phase == "archive"` queues the run for upload; one background
    task uploads it (its document, its index entry and its events) with retries and a capped
    exponential backoff. The queue is kept in `local`'s kv, written before the run document
    itself, so a restart during an S3 outage still uploads every archived run later. Reads ask
    `local` first, then S3 (archives of every host); if S3 does not answer within `read_deadline`
    seconds they serve `local`'s answer and log a warning, and for `cooldown` seconds after an
    outage-like failure they do not ask S3 at all.
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
        self._create_bucket = create_bucket
        self._timeout = timeout
        self._read_deadline = read_deadline
        self._retry_max = retry_max
        self._cooldown = cooldown
        self._concurrency = max(1, concurrency)
        self._workers = self._concurrency + 8  # uploads plus concurrent reads
        self._close_drain = close_drain
        self._runs: _Lru[str] = _Lru(cache_runs, cache_bytes)  # run id -> encoded document
        self._logs: _Lru[list[EventRow]] = _Lru(64, cache_bytes)  # run id -> its events

        self._lock = threading.Lock()  # guards the upload queue: put_run may come from any thread
        self._pending: dict[str, int] = {}  # run id -> generation of its last archive put; oldest first
        self._shards: dict[int, set[str]] = {}
        self._inflight: set[str] = set()
        self._gen = 0

        self._state = "new"  # new | open | closing | closed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._client: Any = None
        self._uploader: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._settled = asyncio.Event()  # set each time an upload ends (delete_run waits on it)
        self._waiters: list[_Waiter] = []  # flush_s3 calls waiting for their runs to be uploaded
        self._dirty: set[int] = set()  # shards whose uploaded runs are not yet saved as gone
        self._saved = 0.0  # when dirty shards were last saved (monotonic)
        self._bucket_ready = False
        self._error: BaseException | None = None  # the last upload error while uploads fail
        self._failing_since: float | None = None
        self._reminded = 0.0
        self._down_until = 0.0  # reads skip S3 until then (monotonic)
        self._read_warned = -_REMIND_EVERY

    # ---- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        """Open the local store, make the S3 client and reload the upload queue; never waits on S3."""
        if self._state == "open":
            return
        if self._state != "new":
            raise StoreError(f"s3 store {self.where} is closed")
        await self.local.open()
        self._loop = asyncio.get_running_loop()
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="floe-s3")
        try:
            self._client = await self._loop.run_in_executor(self._pool, self._make_client)
            await self._load_queue()
        except BaseException:
            self._pool.shutdown(wait=False, cancel_futures=True)
            with contextlib.suppress(StoreError):
                await self.local.close()
            self._state = "closed"
            raise
        self._state = "open"
        self._uploader = asyncio.create_task(self._upload_loop(), name="floe-s3-uploader")
        log.info(
            "s3 store: archiving to %s (endpoint %s), %d runs queued for upload",
            self.where,
            _safe_url(self.endpoint) or "default",
            self.pending_uploads,
        )

    async def close(self) -> None:
        """Try briefly to finish the uploads (unless S3 is failing), then close; the queue persists."""
        if self._state != "open":
            return
        self._state = "closing"
        try:
            if self._close_drain > 0 and self._error is None and self.pending_uploads:
                with contextlib.suppress(StoreError):
                    await self.flush_s3(self._close_drain)
        finally:
            if self._uploader is not None:
                self._uploader.cancel()
                await asyncio.wait({self._uploader})
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
            with contextlib.suppress(Exception):
                self._client.close()
            with self._lock:
                self._state = "closed"
                waiters, self._waiters = self._waiters, []
            for w in waiters:
                resolve([w.fut], f"s3 store {self.where} closed with {w.left} runs not uploaded")
            with contextlib.suppress(StoreError):
                self._save_shards(force=True)
            if left := self.pending_uploads:
                log.warning(
                    "s3 store %s: closing with %d archived runs not yet uploaded; they stay queued in"
                    " the local store and are uploaded after the next start",
                    self.where,
                    left,
                )
            await self.local.close()

    def _make_client(self) -> Any:
        config = Config(
            s3={"addressing_style": "path" if self.endpoint else "auto"},
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
            retries={"max_attempts": 2, "mode": "standard"},
            max_pool_connections=self._workers,
        )
        try:  # a session of its own: boto3's default session is not thread-safe
            return boto3.session.Session().client(
                "s3",
                endpoint_url=self.endpoint or None,
                region_name=self.region or None,
                config=config,
            )
        except (BotoCoreError, ValueError) as exc:
            raise StoreError(f"s3 store {self.where}: cannot make an S3 client: {exc}") from exc

    async def _load_queue(self) -> None:
        keys = [_shard_key(i) for i in range(PENDING_SHARDS)]
        shards = await asyncio.gather(*(self.local.get_kv(k) for k in keys))
        with self._lock:
            for i, ids in enumerate(shards):
                for run_id in ids if isinstance(ids, list) else ():
                    if isinstance(run_id, str) and run_id:
                        self._gen += 1
                        self._pending[run_id] = self._gen
                        self._shards.setdefault(i, set()).add(run_id)

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
        gen = self._queue(run_id)  # before the document: a durable archived run is always queued
        try:
            self.local.put_run(doc)
        except BaseException:
            self._unqueue(run_id, gen)
            raise
        self._notify()

    def append_event(self, event: Doc) -> None:
        self.local.append_event(event)

    def put_kv(self, key: str, value: Any) -> None:
        self.local.put_kv(key, value)

    async def delete_run(self, run_id: str) -> None:
        """Delete the run here and its objects in S3 (listing entry, index, events); StoreError
        when S3 cannot delete them now (the local copy is gone then, the S3 copy stays)."""
        doc = await self.get_run(run_id)
        with self._lock:
            gen = self._pending.get(run_id)
        if gen is not None:
            self._unqueue(run_id, gen)
        while run_id in self._inflight:  # an upload of it under way: its objects are put first
            self._settled.clear()
            await self._settled.wait()
        await self.local.delete_run(run_id)
        self._runs.drop(run_id)
        self._logs.drop(run_id)
        if doc is None or doc.get("phase") != "archive":
            return
        keys = [lay.index_key(self.prefix, run_id), lay.logs_key(self.prefix, run_id)]
        keys.append(lay.run_key(self.prefix, str(doc["flow"]), float(doc["created"]), run_id))
        self._check_open()
        try:
            await self._call(functools.partial(self._delete_objects, keys))
        except Exception as exc:
            raise StoreError(f"s3 store {self.where}: cannot delete run {run_id}: {_brief(exc)}") from exc

    def _delete_objects(self, keys: list[str]) -> None:
        """In a thread: the listing entry first (the run leaves the archive), then index and events."""
        for key in reversed(keys):
            self._client.delete_object(Bucket=self.bucket, Key=key)

    async def flush(self) -> None:
        """The local store's flush: never waits on S3 (see `flush_s3`)."""
        await self.local.flush()

    async def flush_s3(self, timeout: float | None = 30.0) -> None:
        """Return once every run queued before this call is uploaded; `StoreError` after `timeout` s."""
        with self._lock:
            if not self._pending:
                return
            if self._state not in ("open", "closing"):
                raise StoreError(f"s3 store {self.where} is not open")
            waiter = _Waiter(self._gen, len(self._pending), asyncio.get_running_loop().create_future())
            self._waiters.append(waiter)
        try:
            done, _ = await asyncio.wait({waiter.fut}, timeout=timeout)
        finally:
            with self._lock:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                left = waiter.left
        if done:
            return waiter.fut.result()
        raise StoreError(f"s3 store {self.where}: {left} runs not uploaded after {timeout}s: {self._error}")

    @property
    def pending_uploads(self) -> int:
        """Archived runs not yet in S3 (kept in the local store until they are)."""
        with self._lock:
            return len(self._pending)

    @property
    def upload_error(self) -> BaseException | None:
        """The last upload error while uploads are failing, else None."""
        return self._error

    def _queue(self, run_id: str) -> int:
        """Add the run to the queue (again: to its back); a run new to its shard is saved at once."""
        with self._lock:
            self._gen += 1
            old = self._pending.pop(run_id, None)  # archived again: to the back, a new generation
            if old is not None:
                self._gone(old)
            self._pending[run_id] = self._gen
            shard = _shard(run_id)
            ids = self._shards.setdefault(shard, set())
            if run_id not in ids:
                ids.add(run_id)
                self.local.put_kv(_shard_key(shard), sorted(ids))
                self._dirty.discard(shard)
            return self._gen

    def _unqueue(self, run_id: str, gen: int) -> bool:
        """Drop the run from the queue unless it was archived again since `gen`.

        Its shard is saved later (`_save_shards`), once a second at most: after a crash before
        that, a run is uploaded again, which is harmless (the same objects)."""
        with self._lock:
            if self._pending.get(run_id) != gen:
                return False
            del self._pending[run_id]
            self._gone(gen)
            shard = _shard(run_id)
            self._shards.get(shard, set()).discard(run_id)
            self._dirty.add(shard)
            return True

    def _gone(self, gen: int) -> None:
        """Under the lock: the queue entry of generation `gen` left; wake the flushes it completes."""
        for w in self._waiters:
            if gen <= w.upto:
                w.left -= 1
                if w.left == 0:
                    resolve([w.fut], None)
        self._waiters = [w for w in self._waiters if w.left > 0]

    def _save_shards(self, force: bool = False) -> None:
        """Save the shards that lost uploaded runs: when forced, when the queue is empty, or each second."""
        now = time.monotonic()
        with self._lock:
            if not self._dirty or not (force or not self._pending or now - self._saved >= 1.0):
                return
            for shard in sorted(self._dirty):
                self.local.put_kv(_shard_key(shard), sorted(self._shards.get(shard, ())))
            self._dirty.clear()
            self._saved = now

    def _notify(self) -> None:
        """Wake the uploader, from the loop's thread or any other."""
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._wake.set()
        else:
            with contextlib.suppress(RuntimeError):  # the loop is closed: the queue is durable anyway
                loop.call_soon_threadsafe(self._wake.set)

    # ---- the uploader ----------------------------------------------------------------------------

    async def _upload_loop(self) -> None:
        delay = 0.0
        while True:
            try:
                delay = await self._upload_round(delay)
            except Exception:  # a bug here must not stop archiving for good
                log.exception("s3 store %s: uploader failed; retrying", self.where)
                await asyncio.sleep(self._retry_max)

    async def _upload_round(self, delay: float) -> float:
        """Check the bucket if not yet done, upload one batch, back off if all failed; the next delay."""
        self._wake.clear()
        if not self._bucket_ready:
            try:
                await self._call(self._ensure_bucket)
                self._bucket_ready = True
            except Exception as exc:
                delay = self._failed(exc, delay, "checking the bucket")
                await asyncio.sleep(delay)
                return delay
        batch = self._take(self._concurrency if self._error is None else 1)  # one probe while failing
        if not batch:
            await self._wake.wait()
            return delay
        errors = await asyncio.gather(*(self._upload(run_id, gen) for run_id, gen in batch))
        self._save_shards()
        failed = [e for e in errors if e is not None]
        if not failed:
            self._recovered()
            return 0.0
        if len(failed) < len(errors):
            self._recovered()
            log.warning("s3 store %s: %d uploads failed, retrying: %s", self.where, len(failed), failed[0])
            return 0.0
        what = f"uploading run {batch[0][0]}" if len(batch) == 1 else f"uploading {len(batch)} runs"
        delay = self._failed(failed[0], delay, what)
        await asyncio.sleep(delay)
        return delay

    def _take(self, n: int) -> list[tuple[str, int]]:
        batch: list[tuple[str, int]] = []
        with self._lock:
            for run_id, gen in self._pending.items():  # the few in flight are at the front
                if run_id not in self._inflight:
                    batch.append((run_id, gen))
                    if len(batch) == n:
                        break
            self._inflight.update(r for r, _ in batch)
        return batch

    async def _upload(self, run_id: str, gen: int) -> Exception | None:
        try:
            doc = await self.local.get_run(run_id)
            if doc is None or doc.get("phase") != "archive":
                log.info("s3 store: run %s is not archived in the local store; not uploading it", run_id)
            else:
                events = await self.local.events(run_id)
                await self._call(functools.partial(self._put_objects, doc, events))
        except Exception as exc:
            with self._lock:
                self._inflight.discard(run_id)
                if self._pending.get(run_id) == gen:  # to the back of the queue
                    self._pending[run_id] = self._pending.pop(run_id)
            self._settled.set()
            return exc
        with self._lock:
            self._inflight.discard(run_id)
        self._settled.set()
        self._unqueue(run_id, gen)
        if self.pending_uploads:
            self._wake.set()
        return None

    def _put_objects(self, doc: Doc, events: list[Doc]) -> None:
        """In a thread: the events first, the listing entry next, the index last."""
        run_id = str(doc["run_id"])
        key = lay.run_key(self.prefix, str(doc["flow"]), float(doc["created"]), run_id)
        self._client.put_object(
            Bucket=self.bucket,
            Key=lay.logs_key(self.prefix, run_id),
            Body=lay.logs_body(run_id, events),
            ContentType="application/gzip",
        )
        self._client.put_object(
            Bucket=self.bucket, Key=key, Body=lay.run_body(doc), ContentType="application/json"
        )
        self._client.put_object(
            Bucket=self.bucket,
            Key=lay.index_key(self.prefix, run_id),
            Body=lay.index_body(key, doc),
            ContentType="application/json",
        )

    def _ensure_bucket(self) -> None:
        """In a thread: check the bucket; create it when missing (if allowed)."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            status = _status(exc)
            if status == 403:
                log.warning("s3 store %s: not allowed to check the bucket; assuming it exists", self.where)
                return
            if status != 404 and _code(exc) not in _NOT_FOUND:
                raise
        if not self._create_bucket:
            raise StoreError(f"bucket {self.bucket} does not exist (and creating it is off)")
        region = self._client.meta.region_name or "us-east-1"
        args: dict[str, Any] = {"Bucket": self.bucket}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(**args)
        except ClientError as exc:
            if _code(exc) != "BucketAlreadyOwnedByYou":
                raise StoreError(f"bucket {self.bucket} does not exist and cannot be created: {exc}") from exc
        log.warning("s3 store: created bucket %s", self.bucket)

    def _failed(self, exc: BaseException, delay: float, doing: str) -> float:
        """Record a failed attempt, log it (then a reminder every 30 s); the next backoff."""
        now = time.monotonic()
        first = self._error is None
        self._error = exc
        if self._failing_since is None:
            self._failing_since = now
        if _outage(exc):
            self._down_until = now + self._cooldown
        if first or now - self._reminded >= _REMIND_EVERY:
            self._reminded = now
            log.error(
                "s3 store %s: %s failed (failing for %.0fs), %d archived runs kept queued and retried: %s",
                self.where,
                doing,
                now - self._failing_since,
                self.pending_uploads,
                _brief(exc),
                exc_info=exc if first and not _expected(exc) else None,
            )
        return min(max(delay * 2, 0.1), self._retry_max)

    def _recovered(self) -> None:
        if self._error is not None:
            since = self._failing_since or time.monotonic()
            log.warning(
                "s3 store %s: uploads recovered after %.1fs, %d runs still queued",
                self.where,
                time.monotonic() - since,
                self.pending_uploads,
            )
        self._error = self._failing_since = None
        self._down_until = 0.0

    async def _call(self, fn: Callable[[], T]) -> T:
        assert self._loop is not None and self._pool is not None
        return await self._loop.run_in_executor(self._pool, fn)

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
        fetch = functools.partial(self._fetch, lay.index_key(self.prefix, run_id), lay.parse_index)
        try:
            (found,) = await self._read(f"run {run_id}", [fetch])
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
        listing = functools.partial(self._list_archive, flow, limit, before)
        try:
            (listed,) = await self._read(f"archive of {flow or 'every flow'}", [listing])
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
            fetches = [functools.partial(self._fetch, key, lay.parse_run) for _, key in missing]
            try:
                found = await self._read(f"{len(missing)} archived runs", fetches)
            except _Unavailable:
                return here
            for (run_id, _), doc in zip(missing, found, strict=True):
                if doc is not None:  # else deleted since the listing
                    docs[run_id] = doc
                    self._cache_run(doc)
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
        lines = (log_line(r.doc) for r in rows if r.node == node_id and r.tag == NODE_UPDATE)
        return [line for line in lines if line is not None]

    async def get_kv(self, key: str) -> Any | None:
        return await self.local.get_kv(key)

    async def _remote_events(self, run_id: str) -> list[EventRow]:
        """The events of a run archived in S3 (by any host); [] when absent or S3 is unavailable."""
        self._check_open()
        cached = self._logs.get(run_id)
        if cached is not None:
            return cached
        fetch = functools.partial(self._fetch, lay.logs_key(self.prefix, run_id), lay.parse_logs)
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

    async def _read(self, what: str, calls: Sequence[Callable[[], T]]) -> list[T]:
        """Run `calls` in threads within `read_deadline`; `_Unavailable` (logged) if any fails."""
        if time.monotonic() < self._down_until:
            log.debug("s3 store %s: not reading %s while S3 is failing", self.where, what)
            raise _Unavailable
        assert self._loop is not None and self._pool is not None
        loop, pool = self._loop, self._pool
        try:
            async with asyncio.timeout(self._read_deadline):
                return list(await asyncio.gather(*(loop.run_in_executor(pool, c) for c in calls)))
        except Exception as exc:
            now = time.monotonic()
            if _outage(exc):
                self._down_until = now + self._cooldown
            if now - self._read_warned >= _REMIND_EVERY:
                self._read_warned = now
                log.warning(
                    "s3 store %s: cannot read %s, serving the local store's answer: %s",
                    self.where,
                    what,
                    _brief(exc),
                )
            else:
                log.debug("s3 store %s: cannot read %s: %s", self.where, what, _brief(exc))
            raise _Unavailable from exc

    def _fetch(self, key: str, parse: Callable[[bytes, str], T]) -> T | None:
        """In a thread: the parsed object at `key`, or None if there is none."""
        try:
            reply = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _NOT_FOUND:
                return None
            raise
        with contextlib.closing(reply["Body"]) as body:
            raw: bytes = body.read()
        return parse(raw, f"s3://{self.bucket}/{key}")

    def _list_archive(self, flow: str | None, limit: int | None, before: float | None) -> list[lay.Listed]:
        """In a thread: the newest `limit` archived runs of `flow` (of every flow: one listing each)."""
        if flow is not None:
            return self._list_folder(lay.runs_dir(self.prefix, flow), limit, before)
        found: list[lay.Listed] = []
        for folder in self._list_flow_folders():
            found += self._list_folder(folder, limit, before)
        found.sort(key=lambda item: (item.created, item.run_id), reverse=True)
        return found[:limit]

    def _list_folder(self, folder: str, limit: int | None, before: float | None) -> list[lay.Listed]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": folder}
        if before is not None:
            args["StartAfter"] = lay.start_after(folder, before)
        found: list[lay.Listed] = []
        while True:
            if limit is not None:
                args["MaxKeys"] = min(1000, limit - len(found))
            page = self._client.list_objects_v2(**args)
            for obj in page.get("Contents", ()):
                item = lay.parse_run_key(str(obj["Key"]), folder)
                if item is not None and (before is None or item.created < before):
                    found.append(item)
            if (limit is not None and len(found) >= limit) or not page.get("IsTruncated"):
                return found[:limit]
            args["ContinuationToken"] = page["NextContinuationToken"]

    def _list_flow_folders(self) -> list[str]:
        args: dict[str, Any] = {
            "Bucket": self.bucket,
            "Prefix": lay.runs_dir(self.prefix, None),
            "Delimiter": "/",
        }
        folders: list[str] = []
        while True:
            page = self._client.list_objects_v2(**args)
            folders += [str(p["Prefix"]) for p in page.get("CommonPrefixes", ())]
            if not page.get("IsTruncated"):
                return folders
            args["ContinuationToken"] = page["NextContinuationToken"]


def _shard(run_id: str) -> int:
    return zlib.crc32(run_id.encode()) % PENDING_SHARDS  # stable across processes, unlike hash()


def _shard_key(shard: int) -> str:
    return f"{PENDING_KEY}{shard:02d}"


def _doc(text: str) -> Doc:
    doc: Doc = decode(text)
    return doc


def _status(exc: ClientError) -> int:
    meta: dict[str, Any] = dict(exc.response.get("ResponseMetadata") or {})
    return int(meta.get("HTTPStatusCode") or 0)


def _code(exc: ClientError) -> str:
    error: dict[str, Any] = dict(exc.response.get("Error") or {})
    return str(error.get("Code") or "")


def _outage(exc: BaseException) -> bool:
    """S3 unreachable, hung or failing on its side (as opposed to refusing this request)."""
    if isinstance(exc, ClientError):
        return _status(exc) >= 500
    return isinstance(exc, BotoCoreError | TimeoutError | OSError)


def _expected(exc: BaseException) -> bool:
    """An error S3 or the config explains (its message is enough), as opposed to a bug."""
    return isinstance(exc, StoreError | ClientError) or _outage(exc)


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _safe_url(url: str) -> str:
    """`url` without any user:password part, for logs."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=host))
