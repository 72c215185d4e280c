"""One active run's execution: a task owning a TaskGroup of its node tasks, in its workspace."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from floe.hub.foreach import foreach
from floe.hub.messages import Lines, Message, NodeDone
from floe.model.flow import Flow
from floe.model.ids import valid_id, valid_run_id
from floe.model.mask import LineMasker, Masker
from floe.model.run import REASON, Start
from floe.nodes.artifacts import artifact_dir, collect
from floe.nodes.base import NodeContext, NodeError
from floe.nodes.registry import EXECUTORS
from floe.store.errors import StoreError
from floe.store.shelf import ArtifactShelf

log = logging.getLogger(__name__)

MAX_BATCH = 64 * 1024  # characters (a line counts its length + 1) of output in one message to the hub
TIMED_OUT = 124  # the exit status of a task killed by its `timeout`, as timeout(1) reports it


def workspace_path(root: Path, flow: Flow, run_id: str) -> Path:
    """`<root>/spaces/<flow>/ws/<run-id>`, or `.../ws/single` for a `reuse-space` flow.

    Error handling: ValueError when the flow or run id breaks the id rule (so the path would not
    be a directory of its own under the root); the edges refuse such ids before they get here."""
    if not valid_id(flow.id) or not valid_run_id(run_id):
        raise ValueError(f"flow {flow.id!r} run {run_id!r}: not valid ids for a workspace path")
    return root / "spaces" / flow.id / "ws" / ("single" if flow.reuse_space else run_id)


def _fresh_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True, mode=0o700)


class WorkspaceGone(OSError):
    """The earlier run's workspace that a partial re-run starts from is not on this host."""


def _copy_dir(source: Path, path: Path) -> None:
    """`path` as a copy of `source` (symlinks kept as links); `source` itself when they are one
    directory (a `reuse-space` flow), kept as it is."""
    if source == path and path.is_dir():
        return
    if not source.is_dir():
        raise WorkspaceGone(
            f"the workspace of {source.name} is gone from this host (deleted, or that run executed"
            " on another host): re-run the whole run"
        )
    if path.exists():
        shutil.rmtree(path)
    shutil.copytree(source, path, symlinks=True)
    path.chmod(0o700)


class RunTasks:
    """Starts the run's nodes in its own TaskGroup; cancelling `task` cancels (and kills) them all.

    `secrets` are the values of `${secret:NAME}` in env entries; `masker` (by default one made from
    `secrets`) masks them in every output line, reason and result opts before they leave here.
    `host_env` is the environment tasks start from (by default the process's, as it is then).
    With `copy_from` (a partial re-run) the workspace starts as a copy of that directory; else it
    starts empty when `fresh`, or as it is."""

    def __init__(
        self,
        run_id: str,
        flow: Flow,
        workspace: Path,
        cache_dir: Path,
        post: Callable[[Message], None],
        *,
        fresh: bool,
        git_key: str = "",
        grace: float = 5.0,
        secrets: Mapping[str, str] | None = None,
        masker: Masker | None = None,
        host_env: Mapping[str, str] = os.environ,
        store_root: Path | None = None,
        copy_from: Path | None = None,
        shelf: ArtifactShelf | None = None,
    ) -> None:
        self.run_id, self.flow, self.workspace, self.cache_dir = run_id, flow, workspace, cache_dir
        self.post, self.fresh, self.git_key, self.grace = post, fresh, git_key, grace
        self.secrets: Mapping[str, str] = secrets if secrets is not None else {}
        self.masker = masker if masker is not None else Masker(self.secrets.values())
        self.host_env, self.copy_from = host_env, copy_from
        self.store_root = store_root  # where artifacts are kept (none without it)
        self.shelf = shelf  # where they are copied for every host of the cluster (S3), if anywhere
        self.inbox: asyncio.Queue[Start] = asyncio.Queue()  # starts that came before the workspace
        self.task: asyncio.Task[None] | None = None
        self._group: asyncio.TaskGroup | None = None

    def start(self, start: Start) -> None:
        """Run a node in the run's task group (queued until the workspace is ready)."""
        if self._group is not None:
            self._group.create_task(self._node(start))
        else:
            self.inbox.put_nowait(start)

    async def main(self) -> None:
        """Prepare the workspace, then run the run's nodes until cancelled."""
        try:
            if self.copy_from is not None:
                await asyncio.to_thread(_copy_dir, self.copy_from, self.workspace)
            elif not _made_dir(self.workspace) and self.fresh:  # an old one to remove: maybe a big tree
                await asyncio.to_thread(_fresh_dir, self.workspace)
        except OSError as e:
            log.error("<%s> cannot prepare workspace %s: %s", self.run_id, self.workspace, e)
            said = str(e) if isinstance(e, WorkspaceGone) else f"workspace {self.workspace}: {e}"
            while True:  # every node fails with the reason instead of running
                start = await self.inbox.get()
                why = self.masker.mask(said)
                self.post(NodeDone(self.run_id, start.node_id, 1, {}, why))
        try:
            async with asyncio.TaskGroup() as tg:
                while not self.inbox.empty():
                    tg.create_task(self._node(self.inbox.get_nowait()))
                self._group = tg  # from now on the hub starts nodes here directly
                await asyncio.Event().wait()  # until the run is cancelled
        finally:
            with contextlib.suppress(OSError):  # not empty (or gone): kept for retention to judge
                # an empty workspace is not left behind; a thread does it, as removing a directory
                # is a slow system call (it was the loop's top frame in a burst of 1,000 runs)
                await asyncio.to_thread(os.rmdir, self.workspace)

    async def _node(self, start: Start) -> None:
        node = self.flow.node(start.node_id)
        assert node is not None, start.node_id
        if start.delay:
            await asyncio.sleep(start.delay)

        emit = _Output(self.run_id, node.id, self.masker.stream(), self.post)
        mask = self.masker.mask

        async def done(status: int, opts: Mapping[str, Any], error: str = "") -> None:
            kept: list[dict[str, Any]] = []
            if node.artifacts and self.store_root is not None:
                dest = artifact_dir(self.store_root, self.run_id, node.id)
                notes: list[str] = []  # said in the thread, logged here on the loop
                try:
                    kept = await asyncio.to_thread(
                        collect, self.workspace, node.artifacts, dest, notes.append
                    )
                except OSError as e:
                    notes.append(f"artifacts: {e.strerror or e}")
                except Exception as e:  # a task boundary: keeping files never takes the host down
                    log.exception("<%s> artifacts of %s", self.run_id, node.id)
                    notes.append(f"artifacts: internal error: {e!r}")
                if kept and self.shelf is not None:  # before the result that lists them
                    try:
                        await self.shelf.put(self.run_id, node.id, dest, kept)
                    except StoreError as e:
                        notes.append(f"artifacts: {e}; only this host serves them")
                for line in notes:
                    emit(line)
                for a in kept:
                    emit(f"kept artifact {a['path']} ({a['size']} bytes, sha256 {a['sha256'][:12]})")
            emit.flush()  # its last lines come before its result
            self.post(NodeDone(self.run_id, node.id, status, opts, error, tuple(kept)))

        if start.attempt > 1:
            emit(f"attempt {start.attempt}")
        ctx = NodeContext(
            run_id=self.run_id,
            flow_id=self.flow.id,
            node=node,
            opts=start.opts,
            values=start.values,
            flow_env=self.flow.env,
            workspace=self.workspace,
            cache_dir=self.cache_dir,
            log=emit,
            git_key=self.git_key,
            grace=self.grace,
            secrets=self.secrets,
            host_env=self.host_env,
        )
        execute = EXECUTORS.get(node.type)
        if execute is None:
            await done(1, {}, f"no task type {node.type!r}")
            return
        try:
            async with asyncio.timeout(node.timeout):
                outcome = await (foreach(start, ctx, execute) if start.each else execute(ctx))
        except TimeoutError:
            emit(f"timed out after {node.timeout:g}s")
            await done(TIMED_OUT, {REASON: f"timed out after {node.timeout:g}s"})
        except NodeError as e:
            emit(str(e))
            await done(1, {}, mask(str(e)))
        except Exception as e:  # a task boundary: a bug in a task type fails the node, not the host
            log.exception("<%s> task %s crashed", self.run_id, node.id)  # masked by floe.host_secrets
            emit(f"internal error: {e!r}")
            await done(1, {}, mask(f"internal error: {e!r}"))
        else:
            await done(outcome.status, self.masker.mask_value(outcome.opts))


class _Output:
    """A node's log. The lines logged in one turn of the event loop (an exec task's header, the
    lines of one read of its output) reach the hub as one Lines message (one event, one stored
    record), of at most about MAX_BATCH characters, masked together as they leave."""

    def __init__(
        self, run_id: str, node_id: str, stream: LineMasker, post: Callable[[Message], None]
    ) -> None:
        self._run_id, self._node_id, self._stream, self._post = run_id, node_id, stream, post
        self._held: list[str] = []
        self._size = 0

    def __call__(self, line: str) -> None:
        if not self._held:
            asyncio.get_running_loop().call_soon(self.flush)
        self._held.append(line)
        self._size += len(line) + 1
        if self._size >= MAX_BATCH:
            self.flush()

    def flush(self) -> None:
        if self._held:
            self._post(Lines(self._run_id, self._node_id, tuple(self._stream.mask_lines(self._held))))
            self._held, self._size = [], 0


def _made_dir(path: Path) -> bool:
    """Make the directory (one quick system call: no thread-pool hop for it, no look first);
    False when it was there already."""
    try:
        path.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        if not path.is_dir():
            raise
        return False
    return True
