"""One host per store root: an exclusive `flock` on `<store-root>/lock`, which holds the pid."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from floe.store.errors import StoreError

LOCK_FILE = "lock"


@contextmanager
def store_lock(root: Path) -> Iterator[None]:
    """Hold the store root's lock while the block runs; StoreError naming the holder's pid when
    another process holds it. The kernel drops the lock when its holder dies, even by `kill -9`,
    so a crashed host never leaves a stale lock; task processes do not inherit it (close-on-exec)."""
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(root / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            raise StoreError(f"another floe host (pid {pid}) is using {root}") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock; the file stays, so no two hosts ever lock different files
