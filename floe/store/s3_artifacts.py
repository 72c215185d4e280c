"""Artifacts in the S3 bucket beside the archived runs: uploaded when their task ends, read by any host."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from floe.store import s3_layout as lay
from floe.store.errors import StoreError
from floe.store.s3_client import S3Client, S3Object, brief

log = logging.getLogger(__name__)

ATTEMPTS = 3  # tries of one node's upload before its result comes without the S3 copy


class S3Artifacts:
    """The `ArtifactShelf` of an S3 store: `<prefix>artifacts/<run>/<node>/<path>`, each object with
    its `sha256` and `size` in its metadata (and S3's own SHA-256 checksum of what it received)."""

    def __init__(self, client: S3Client, prefix: str, where: str, retry_max: float) -> None:
        self._client, self._prefix, self.where, self._retry_max = client, prefix, where, retry_max

    async def put(self, run_id: str, node_id: str, folder: Path, kept: Sequence[Mapping[str, Any]]) -> None:
        delay = 0.5
        for attempt in range(1, ATTEMPTS + 1):
            try:
                await self._put(run_id, node_id, folder, kept)
                return
            except Exception as exc:
                self._client.failed(exc)
                if attempt == ATTEMPTS:
                    raise StoreError(f"cannot copy them to {self.where}: {brief(exc)}") from exc
                log.warning("<%s> artifacts of %s: upload failed, retrying: %s", run_id, node_id, brief(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max)

    async def _put(self, run_id: str, node_id: str, folder: Path, kept: Sequence[Mapping[str, Any]]) -> None:
        await self._client.delete_prefix(
            lay.artifacts_dir(self._prefix, run_id, node_id)
        )  # an earlier attempt's
        for a in kept:
            key = lay.artifact_key(self._prefix, run_id, node_id, str(a["path"]))
            meta = {"sha256": str(a["sha256"]), "size": str(a["size"])}
            await self._client.upload_file(key, folder / str(a["path"]), meta)

    async def get(self, run_id: str, node_id: str, record: Mapping[str, Any]) -> S3Object | None:
        key = lay.artifact_key(self._prefix, run_id, node_id, str(record["path"]))
        try:
            found = await self._client.open_object(key)
        except Exception as exc:
            self._client.failed(exc)
            raise StoreError(f"cannot read {key} from {self.where}: {brief(exc)}") from exc
        if found is None:
            return None
        if found.metadata.get("sha256") != record.get("sha256") or found.size != record.get("size"):
            found.body.close()  # another attempt's file: not the one the run recorded
            return None
        return found

    async def delete_run(self, run_id: str) -> None:
        """Delete every artifact of the run (retention)."""
        await self._client.delete_prefix(lay.artifacts_dir(self._prefix, run_id))
