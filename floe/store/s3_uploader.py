"""The S3 store's uploader: one task that sends queued archived runs to S3, with retries and backoff."""

from __future__ import annotations

import asyncio
import logging
import time

from floe.store import s3_layout as lay
from floe.store.base import RunStore
from floe.store.s3_client import S3Client, brief, expected
from floe.store.s3_queue import UploadQueue

log = logging.getLogger(__name__)

REMIND_EVERY = 30.0  # seconds between repeated warnings while S3 keeps failing


class Uploader:
    """Uploads up to `concurrency` runs at a time (one probe at a time while S3 fails); a failed
    upload goes to the back of the queue and a batch that failed whole backs off (0.1 s doubling
    up to `retry_max`). The bucket is checked (and made, if `create_bucket`) before the first."""

    def __init__(
        self,
        local: RunStore,
        queue: UploadQueue,
        client: S3Client,
        *,
        prefix: str,
        where: str,
        concurrency: int,
        retry_max: float,
        create_bucket: bool,
    ) -> None:
        self._local, self._queue, self._client = local, queue, client
        self._prefix, self._where = prefix, where
        self._concurrency, self._retry_max, self._create_bucket = concurrency, retry_max, create_bucket
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._bucket_ready = False
        self.error: BaseException | None = None  # the last upload error while uploads fail
        self._failing_since: float | None = None
        self._reminded = 0.0

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="floe-s3-uploader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task})

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        delay = 0.0
        while True:
            try:
                delay = await self._round(delay)
            except Exception:  # a bug here must not stop archiving for good
                log.exception("s3 store %s: uploader failed; retrying", self._where)
                await asyncio.sleep(self._retry_max)

    async def _round(self, delay: float) -> float:
        """Check the bucket if not yet done, upload one batch, back off if all failed; the next delay."""
        self._wake.clear()
        if not self._bucket_ready:
            try:
                await self._client.ensure_bucket(self._create_bucket)
                self._bucket_ready = True
            except Exception as exc:
                delay = self._failed(exc, delay, "checking the bucket")
                await asyncio.sleep(delay)
                return delay
        batch = self._queue.take(self._concurrency if self.error is None else 1)
        if not batch:
            await self._wake.wait()
            return delay
        errors = await asyncio.gather(*(self._upload(run_id, gen) for run_id, gen in batch))
        self._queue.save()
        failed = [e for e in errors if e is not None]
        if not failed:
            self._recovered()
            return 0.0
        if len(failed) < len(errors):
            self._recovered()
            log.warning("s3 store %s: %d uploads failed, retrying: %s", self._where, len(failed), failed[0])
            return 0.0
        what = f"uploading run {batch[0][0]}" if len(batch) == 1 else f"uploading {len(batch)} runs"
        delay = self._failed(failed[0], delay, what)
        await asyncio.sleep(delay)
        return delay

    async def _upload(self, run_id: str, gen: int) -> Exception | None:
        try:
            doc = await self._local.get_run(run_id)
            if doc is None or doc.get("phase") != "archive":
                log.info("s3 store: run %s is not archived in the local store; not uploading it", run_id)
            else:
                events = await self._local.events(run_id)
                key = lay.run_key(self._prefix, str(doc["flow"]), float(doc["created"]), run_id)
                await self._client.put_objects(  # the events first, the listing entry next, the index last
                    [
                        (
                            lay.logs_key(self._prefix, run_id),
                            lay.logs_body(run_id, events),
                            "application/gzip",
                        ),
                        (key, lay.run_body(doc), "application/json"),
                        (lay.index_key(self._prefix, run_id), lay.index_body(key, doc), "application/json"),
                    ]
                )
        except Exception as exc:
            self._queue.done(run_id, gen, uploaded=False)
            return exc
        self._queue.done(run_id, gen, uploaded=True)
        if len(self._queue):
            self._wake.set()
        return None

    def _failed(self, exc: BaseException, delay: float, doing: str) -> float:
        """Record a failed attempt, log it (then a reminder every 30 s); the next backoff."""
        now = time.monotonic()
        first = self.error is None
        self.error = exc
        if self._failing_since is None:
            self._failing_since = now
        self._client.failed(exc)
        if first or now - self._reminded >= REMIND_EVERY:
            self._reminded = now
            log.error(
                "s3 store %s: %s failed (failing for %.0fs), %d archived runs kept queued and retried: %s",
                self._where,
                doing,
                now - self._failing_since,
                len(self._queue),
                brief(exc),
                exc_info=exc if first and not expected(exc) else None,
            )
        return min(max(delay * 2, 0.1), self._retry_max)

    def _recovered(self) -> None:
        if self.error is not None:
            since = self._failing_since or time.monotonic()
            log.warning(
                "s3 store %s: uploads recovered after %.1fs, %d runs still queued",
                self._where,
                time.monotonic() - since,
                len(self._queue),
            )
        self._client.recovered()
        self.error = self._failing_since = None
