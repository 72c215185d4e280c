"""Finding and killing what an interrupted run's tasks left running, with real processes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe.nodes import leftovers
from tests.support.host import wait_for


def gone(proc: subprocess.Popen[bytes]) -> bool:
    return proc.poll() is not None


@pytest.fixture
def spawn() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def sleeper(procs: list[subprocess.Popen[bytes]], **env: str) -> subprocess.Popen[bytes]:
    p = subprocess.Popen(["sleep", "300"], env={**os.environ, **env})
    procs.append(p)
    return p


def test_only_the_named_runs_of_this_workspace_root_are_killed(
    tmp_path: Path, spawn: list[subprocess.Popen[bytes]]
) -> None:
    mine = tmp_path / "spaces/build/ws/h1-1"
    theirs = tmp_path / "other/spaces/build/ws/h1-1"  # another installation's run of the same id
    target = sleeper(spawn, FLOE_RUN_ID="h1-1", FLOE_NODE_ID="test", FLOEWS=str(mine))
    other_install = sleeper(spawn, FLOE_RUN_ID="h1-1", FLOE_NODE_ID="test", FLOEWS=str(theirs))
    other_run = sleeper(spawn, FLOE_RUN_ID="h1-2", FLOE_NODE_ID="test", FLOEWS=str(mine))
    plain = sleeper(spawn)

    killed = leftovers.kill({"h1-1": mine})

    assert [(k.pid, k.run_id, k.node_id, k.command) for k in killed] == [
        (target.pid, "h1-1", "test", "sleep 300")
    ]
    wait_for(lambda: gone(target), 10, "the leftover killed")
    assert target.returncode == -9
    assert not any(gone(p) for p in (other_install, other_run, plain))


def test_nothing_to_look_for_kills_nothing(spawn: list[subprocess.Popen[bytes]]) -> None:
    p = sleeper(spawn, FLOE_RUN_ID="h1-1", FLOEWS="/x")
    assert leftovers.kill({}) == []
    assert not gone(p)
