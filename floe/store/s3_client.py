"""A thin wrapper of boto3's S3 client for one bucket: every call runs in a thread pool of its own."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import boto3.session
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from floe.store import s3_layout as lay
from floe.store.errors import StoreError

log = logging.getLogger(__name__)
T = TypeVar("T")

CHUNK = 1024 * 1024  # what a download reads from S3 at a time
_NOT_FOUND = frozenset({"NoSuchKey", "NoSuchBucket", "NotFound", "404"})
_TRANSFER = TransferConfig(max_concurrency=4)  # multipart above 8 MiB, streamed from the file


@dataclass(slots=True)
class S3Object:
    """An object being read: its size and metadata; `chunks()` streams the body and closes it."""

    size: int
    metadata: Mapping[str, str]
    body: Any
    client: S3Client

    async def chunks(self) -> AsyncIterator[bytes]:
        try:
            while chunk := await self.client.run(functools.partial(self.body.read, CHUNK)):
                yield chunk
        finally:
            self.body.close()


class S3Client:
    """boto3 calls on `bucket` (path-style at `endpoint` when one is given), in `workers` threads,
    so that a hung S3 never holds up the event loop or the local store's threads.

    After a failure that looks like an outage (`outage()`), `down` is true for `cooldown` seconds:
    callers that may answer without S3 (reads) skip it meanwhile."""

    def __init__(
        self, bucket: str, *, endpoint: str, region: str, timeout: float, workers: int, cooldown: float
    ) -> None:
        self.bucket, self.endpoint, self.region = bucket, endpoint, region
        self._timeout, self._workers, self._cooldown = timeout, workers, cooldown
        self._pool: ThreadPoolExecutor | None = None
        self._client: Any = None
        self._down_until = 0.0  # monotonic

    async def open(self) -> None:
        """Make the boto3 client (in a thread: it reads the AWS config files)."""
        self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="floe-s3")
        try:
            self._client = await self.run(self._make)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        with contextlib.suppress(Exception):
            if self._client is not None:
                self._client.close()

    def _make(self) -> Any:
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
            raise StoreError(f"s3 bucket {self.bucket}: cannot make an S3 client: {exc}") from exc

    async def run(self, fn: Callable[[], T]) -> T:
        """`fn()` in one of the client's threads."""
        assert self._pool is not None, "S3Client.open() first"
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn)

    # ---- health --------------------------------------------------------------------------------

    @property
    def down(self) -> bool:
        """True for `cooldown` seconds after an outage-like failure."""
        return time.monotonic() < self._down_until

    def failed(self, exc: BaseException) -> None:
        if outage(exc):
            self._down_until = time.monotonic() + self._cooldown

    def recovered(self) -> None:
        self._down_until = 0.0

    # ---- calls ---------------------------------------------------------------------------------

    async def put_objects(self, objects: Sequence[tuple[str, bytes, str]]) -> None:
        """Put `(key, body, content type)` objects one after another, in order."""
        await self.run(functools.partial(self._put_objects, objects))

    def _put_objects(self, objects: Sequence[tuple[str, bytes, str]]) -> None:
        for key, body, content_type in objects:
            self._client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=content_type)

    async def delete_objects(self, keys: Sequence[str]) -> None:
        """Delete the objects one after another, in order (a missing one is no error)."""
        await self.run(functools.partial(self._delete_objects, keys))

    def _delete_objects(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._client.delete_object(Bucket=self.bucket, Key=key)

    async def delete_prefix(self, prefix: str) -> int:
        """Delete every object whose key starts with `prefix`; how many there were."""
        return await self.run(functools.partial(self._delete_prefix, prefix))

    def _delete_prefix(self, prefix: str) -> int:
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        deleted = 0
        while True:
            page = self._client.list_objects_v2(**args)
            keys = [{"Key": str(o["Key"])} for o in page.get("Contents", ())]
            if keys:
                reply = self._client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True}
                )
                if errors := reply.get("Errors"):
                    raise StoreError(f"cannot delete {errors[0].get('Key')}: {errors[0].get('Message')}")
                deleted += len(keys)
            if not page.get("IsTruncated"):
                return deleted
            args["ContinuationToken"] = page["NextContinuationToken"]

    async def upload_file(self, key: str, path: Path, metadata: Mapping[str, str]) -> None:
        """Stream a file to `key` (multipart when large), checksummed by S3 (SHA-256 of each part)."""
        extra = {
            "Metadata": dict(metadata),
            "ContentType": "application/octet-stream",
            "ChecksumAlgorithm": "SHA256",
        }
        upload = functools.partial(
            self._client.upload_file, str(path), self.bucket, key, ExtraArgs=extra, Config=_TRANSFER
        )
        await self.run(upload)

    async def open_object(self, key: str) -> S3Object | None:
        """The object at `key`, ready to stream, or None if there is none."""
        reply = await self.run(functools.partial(self._get, key))
        if reply is None:
            return None
        return S3Object(int(reply["ContentLength"]), dict(reply.get("Metadata") or {}), reply["Body"], self)

    def _get(self, key: str) -> Any:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if code(exc) in _NOT_FOUND:
                return None
            raise

    async def fetch(self, key: str, parse: Callable[[bytes, str], T]) -> T | None:
        """The parsed object at `key`, or None if there is none."""
        return await self.run(functools.partial(self._fetch, key, parse))

    def _fetch(self, key: str, parse: Callable[[bytes, str], T]) -> T | None:
        reply = self._get(key)
        if reply is None:
            return None
        with contextlib.closing(reply["Body"]) as body:
            raw: bytes = body.read()
        return parse(raw, f"s3://{self.bucket}/{key}")

    async def ensure_bucket(self, create: bool) -> None:
        """Check the bucket; create it when missing (if `create`)."""
        await self.run(functools.partial(self._ensure_bucket, create))

    def _ensure_bucket(self, create: bool) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
            return
        except ClientError as exc:
            if status(exc) == 403:
                log.warning("s3 bucket %s: not allowed to check the bucket; assuming it exists", self.bucket)
                return
            if status(exc) != 404 and code(exc) not in _NOT_FOUND:
                raise
        if not create:
            raise StoreError(f"bucket {self.bucket} does not exist (and creating it is off)")
        region = self._client.meta.region_name or "us-east-1"
        args: dict[str, Any] = {"Bucket": self.bucket}
        if region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            self._client.create_bucket(**args)
        except ClientError as exc:
            if code(exc) != "BucketAlreadyOwnedByYou":
                raise StoreError(f"bucket {self.bucket} does not exist and cannot be created: {exc}") from exc
        log.warning("s3 store: created bucket %s", self.bucket)

    async def list_archive(
        self, prefix: str, flow: str | None, limit: int | None, before: float | None
    ) -> list[lay.Listed]:
        """The newest `limit` archived runs of `flow` (of every flow: one listing each)."""
        return await self.run(functools.partial(self._list_archive, prefix, flow, limit, before))

    def _list_archive(
        self, prefix: str, flow: str | None, limit: int | None, before: float | None
    ) -> list[lay.Listed]:
        if flow is not None:
            return self._list_folder(lay.runs_dir(prefix, flow), limit, before)
        found: list[lay.Listed] = []
        for folder in self._list_flow_folders(prefix):
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

    def _list_flow_folders(self, prefix: str) -> list[str]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Prefix": lay.runs_dir(prefix, None), "Delimiter": "/"}
        folders: list[str] = []
        while True:
            page = self._client.list_objects_v2(**args)
            folders += [str(p["Prefix"]) for p in page.get("CommonPrefixes", ())]
            if not page.get("IsTruncated"):
                return folders
            args["ContinuationToken"] = page["NextContinuationToken"]


def status(exc: ClientError) -> int:
    meta: dict[str, Any] = dict(exc.response.get("ResponseMetadata") or {})
    return int(meta.get("HTTPStatusCode") or 0)


def code(exc: ClientError) -> str:
    error: dict[str, Any] = dict(exc.response.get("Error") or {})
    return str(error.get("Code") or "")


def outage(exc: BaseException) -> bool:
    """S3 unreachable, hung or failing on its side (as opposed to refusing this request)."""
    if isinstance(exc, ClientError):
        return status(exc) >= 500
    return isinstance(exc, BotoCoreError | TimeoutError | OSError)


def expected(exc: BaseException) -> bool:
    """An error S3 or the config explains (its message is enough), as opposed to a bug."""
    return isinstance(exc, StoreError | ClientError) or outage(exc)


def brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def safe_url(url: str) -> str:
    """`url` without any user:password part, for logs."""
    if not url:
        return ""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=host))
