"""Task processes a killed host left running: found by their run's environment, killed at restart."""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from floe.model.opts import WS_VAR
from floe.nodes.base import NODE_VAR, RUN_VAR

PROC = Path("/proc")


@dataclass(frozen=True, slots=True)
class Leftover:
    """A process killed because its run was interrupted."""

    pid: int
    run_id: str
    node_id: str
    command: str


def kill(workspaces: Mapping[str, Path]) -> list[Leftover]:
    """SIGKILL every process whose environment names one of these runs (`FLOE_RUN_ID`) and its
    workspace (`FLOEWS`): what the tasks of `workspaces` (run id → workspace) started, their
    children included, unless they cleared their environment. The workspace tells this
    installation's runs from another's on the same machine. Blocking: call it in a thread.

    Each process is opened as a pidfd before its environment is read and signalled through it,
    so a process id reused meanwhile is never hit. Processes of other users are skipped.
    """
    if not workspaces or not PROC.is_dir():
        return []
    wanted = {
        (f"{RUN_VAR}={run_id}".encode(), f"{WS_VAR}={ws}".encode()): run_id
        for run_id, ws in workspaces.items()
    }
    killed: list[Leftover] = []
    me, uid = os.getpid(), os.getuid()
    for entry in os.scandir(PROC):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        try:
            if entry.stat().st_uid != uid:  # another user's: never ours, even when we are root
                continue
            pidfd = os.pidfd_open(pid)
        except OSError:  # gone already, or no pidfds here
            continue
        try:
            env = set((PROC / entry.name / "environ").read_bytes().split(b"\0"))
            run_id = next(
                (r for (run_var, ws_var), r in wanted.items() if run_var in env and ws_var in env), ""
            )
            if not run_id:
                continue
            command = _command(pid)
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            killed.append(Leftover(pid, run_id, _value(env, NODE_VAR), command))
        except OSError:  # exited meanwhile, or another user's
            continue
        finally:
            os.close(pidfd)
    return killed


def _value(env: set[bytes], name: str) -> str:
    prefix = f"{name}=".encode()
    return next((v[len(prefix) :].decode(errors="replace") for v in env if v.startswith(prefix)), "")


def _command(pid: int) -> str:
    argv = (PROC / str(pid) / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    return " ".join(a.decode(errors="replace") for a in argv)[:200]
