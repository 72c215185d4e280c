"""Pick a RunStore backend by the config's `store-type`."""

from __future__ import annotations

from pathlib import Path

from floe.store.base import RunStore
from floe.store.local import LocalStore
from floe.store.memory import MemoryStore


def open_store(store_type: str, root: Path) -> RunStore:
    """A new, not yet opened store: `memory`, or `local` (SQLite under `root`); await its `open()`."""
    if store_type == "memory":
        return MemoryStore()
    if store_type == "local":
        return LocalStore(root)
    raise ValueError(f"unknown store type {store_type}")
