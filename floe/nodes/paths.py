"""Workspace-confined paths: a `sub-dir` or `location` resolves inside the run's workspace or is refused."""

from __future__ import annotations

from pathlib import Path

from floe.model.opts import expand_ws
from floe.nodes.base import NodeError


def inside(ws: Path, rel: str, *, what: str = "path") -> Path:
    """Resolve `rel` (after `{{ws}}`, `.` and `./` expansion) inside `ws`, following symlinks.

    A relative path is taken from the workspace; an absolute one must already point inside it.
    Error handling: a path that escapes (`..`, an absolute path elsewhere, a symlink pointing out)
    raises NodeError("<what> <rel> escapes the workspace").
    """
    root = ws.resolve()
    target = Path(expand_ws(rel, str(ws)))
    if not target.is_absolute():
        target = ws / target
    resolved = target.resolve()
    if resolved != root and root not in resolved.parents:
        raise NodeError(f"{what} {rel} escapes the workspace")
    return resolved
