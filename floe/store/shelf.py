"""A shelf of artifacts shared by the hosts of a cluster (the S3 store's), and how to find a store's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class Stored(Protocol):
    """One artifact being read from the shelf: its size, and its bytes in chunks."""

    size: int

    def chunks(self) -> AsyncIterator[bytes]: ...


@runtime_checkable
class ArtifactShelf(Protocol):
    """Artifacts copied off the host that ran the task, so that any host serves them."""

    where: str  # for messages: `s3://bucket/prefix`

    async def put(self, run_id: str, node_id: str, folder: Path, kept: Sequence[Mapping[str, Any]]) -> None:
        """Copy the node's kept files (`kept` records, their files under `folder`) to the shelf,
        replacing an earlier attempt's; durable on return, StoreError when it cannot be done."""

    async def get(self, run_id: str, node_id: str, record: Mapping[str, Any]) -> Stored | None:
        """The file `record` (`path`, `size`, `sha256`) names, ready to stream; None when the shelf
        has no such file (or one with another checksum); StoreError when it cannot be asked."""


def shelf_of(store: object) -> ArtifactShelf | None:
    """The store's shelf of artifacts, or None: they stay on the host that ran the task."""
    shelf = getattr(store, "artifacts", None)
    return shelf if isinstance(shelf, ArtifactShelf) else None
