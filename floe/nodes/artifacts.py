"""Artifacts: files a task declares (`artifacts: [dist/*.tgz]`) copied out of its workspace into the
store, with their sizes and sha256 checksums. Blocking: the runner calls it in a thread."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

MAX_FILES = 1000  # per node
MAX_BYTES = 2 * 1024**3  # per node
CHUNK = 1024 * 1024


def artifact_dir(store_root: Path, run_id: str, node_id: str) -> Path:
    """Where a node's artifacts live: `<store-root>/artifacts/<run>/<node>/`."""
    return store_root / "artifacts" / run_id / node_id


def _matches(workspace: Path, patterns: Sequence[str], warn: Callable[[str], None]) -> list[Path]:
    """Regular files inside the workspace that the patterns match (symlinks out of it refused)."""
    root = workspace.resolve()
    found: dict[Path, None] = {}
    for pattern in patterns:
        rel = PurePosixPath(pattern)
        if rel.is_absolute() or ".." in rel.parts:
            warn(f"artifacts: {pattern} must be a relative path inside the workspace")
            continue
        hits = sorted(p for p in root.glob(pattern) if p.is_file())
        if not hits:
            warn(f"artifacts: nothing matches {pattern}")
        for path in hits:
            real = path.resolve()
            if root not in real.parents:
                warn(f"artifacts: {path.relative_to(root)} leads out of the workspace, not kept")
                continue
            found[path] = None
    return list(found)


def _copy(src: Path, dest: Path) -> str:
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest = hashlib.sha256()
    with src.open("rb") as fin, dest.open("wb") as fout:
        while chunk := fin.read(CHUNK):
            digest.update(chunk)
            fout.write(chunk)
    return digest.hexdigest()


def collect(
    workspace: Path, patterns: Sequence[str], dest: Path, warn: Callable[[str], None]
) -> list[dict[str, Any]]:
    """Copy the matching files to `dest` (replacing what an earlier attempt kept); their records:
    `path` (relative to the workspace), `size` in bytes and `sha256`."""
    if dest.exists():
        shutil.rmtree(dest)
    kept: list[dict[str, Any]] = []
    total = 0
    root = workspace.resolve()
    for path in _matches(workspace, patterns, warn):
        if len(kept) >= MAX_FILES:
            warn(f"artifacts: more than {MAX_FILES} files, the rest are not kept")
            break
        size = path.stat().st_size
        if total + size > MAX_BYTES:
            warn(f"artifacts: {path.relative_to(root)} would pass {MAX_BYTES} bytes in all, not kept")
            continue
        rel = path.relative_to(root).as_posix()
        kept.append({"path": rel, "size": size, "sha256": _copy(path, dest / rel)})
        total += size
    return kept


def find(store_root: Path, run_id: str, node_id: str, rel: str) -> Path | None:
    """The stored file of one artifact, or None (a path that leaves the node's directory is none)."""
    base = artifact_dir(store_root, run_id, node_id).resolve()
    target = (base / rel).resolve()
    return target if base in target.parents and target.is_file() else None
