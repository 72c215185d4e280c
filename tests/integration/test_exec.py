"""The exec task and the subprocess runner, with real processes."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from floe.model.flow import Node, NodeClass
from floe.nodes import proc
from floe.nodes.base import NodeContext, NodeError, Outcome
from floe.nodes.registry import EXECUTORS

HEADER = 3  # "in dir: ...", the command, ""


class Log:
    """A node log that tests can wait on."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self._changed = asyncio.Event()

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self._changed.set()

    async def wait_for(self, pattern: str) -> re.Match[str]:
        while True:
            for line in self.lines:
                if m := re.search(pattern, line):
                    return m
            self._changed.clear()
            await self._changed.wait()


def make_ctx(
    tmp_path: Path,
    opts: Mapping[str, Any],
    *,
    flow_env: tuple[str, ...] = (),
    grace: float = 5.0,
) -> tuple[NodeContext, Log]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    log = Log()
    node = Node(id="build", name="build", cls=NodeClass.TASK, type="exec", opts=opts)
    ctx = NodeContext(
        run_id="h1-1",
        flow_id="flow",
        node=node,
        opts=opts,
        flow_env=flow_env,
        workspace=ws,
        cache_dir=tmp_path / "cache",
        log=log,
        grace=grace,
    )
    return ctx, log


async def run_exec(ctx: NodeContext) -> Outcome:
    return await EXECUTORS["exec"](ctx)


async def exited(pid: int, within: float = 10.0) -> bool:
    """Whether process `pid` (not our child) exits within `within` seconds, watched by a pidfd."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    loop.add_reader(fd, readable)
    try:
        async with asyncio.timeout(within):
            await done
        return True
    except TimeoutError:
        return False
    finally:
        loop.remove_reader(fd)
        os.close(fd)


async def test_cmd_is_split_with_shell_quoting(tmp_path: Path) -> None:
    ctx, log = make_ctx(tmp_path, {"cmd": "printf '[%s]\\n' \"a b\" c", "args": ["d e"]})
    out = await run_exec(ctx)
    assert out.status == 0
    assert log.lines[HEADER:] == ["[a b]", "[c]", "[d e]"]


async def test_first_lines_and_exit_status(tmp_path: Path) -> None:
    ctx, log = make_ctx(tmp_path, {"shell": "echo hi; exit 3"})
    out = await run_exec(ctx)
    assert out.status == 3
    assert log.lines[0] == f"in dir: {ctx.workspace.resolve()}"
    assert log.lines[1] == "bash -c 'echo hi; exit 3'"
    assert log.lines[2:] == ["", "hi", "", "exited with status: 3"]


async def test_killed_by_signal_is_128_plus_signal(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"shell": "kill -9 $$"})
    assert (await run_exec(ctx)).status == 137


async def test_shell_vars_from_flow_and_task_env_reach_bash(tmp_path: Path) -> None:
    ctx, log = make_ctx(
        tmp_path,
        {"shell": 'echo "$FLOW_V $TASK_V $BOTH"', "env": ["TASK_V=from-task", "BOTH=task"]},
        flow_env=("FLOW_V=from-flow", "BOTH=flow"),
    )
    assert (await run_exec(ctx)).status == 0
    assert log.lines[1] == "bash -c 'echo \"$FLOW_V $TASK_V $BOTH\"'"  # left to bash
    assert log.lines[HEADER:] == ["from-flow from-task task"]


async def test_cmd_and_args_expand_against_task_env_but_log_unexpanded(tmp_path: Path) -> None:
    ctx, log = make_ctx(
        tmp_path,
        {"cmd": "echo $TOKEN {{ws}}", "args": ["${FLOW_V}"], "env": ["TOKEN=s3cret"]},
        flow_env=("FLOW_V=fv",),
    )
    assert (await run_exec(ctx)).status == 0
    assert log.lines[1] == "echo '$TOKEN' '{{ws}}' '${FLOW_V}'"
    assert log.lines[HEADER:] == [f"s3cret {ctx.workspace} fv"]


async def test_floews_and_env_paths(tmp_path: Path) -> None:
    ctx, log = make_ctx(tmp_path, {"shell": 'echo "$FLOEWS"; echo "$OUT"', "env": ["OUT=./out"]})
    assert (await run_exec(ctx)).status == 0
    assert log.lines[HEADER:] == [str(ctx.workspace), f"{ctx.workspace}/out"]


async def test_program_is_looked_up_on_the_task_path(tmp_path: Path) -> None:
    ctx, log = make_ctx(tmp_path, {"cmd": "hello-floe", "env": ["PATH=./bin:$PATH"]})
    tool = ctx.workspace / "bin" / "hello-floe"
    tool.parent.mkdir()
    tool.write_text("#!/bin/sh\necho hello from bin\n")
    tool.chmod(0o755)
    assert (await run_exec(ctx)).status == 0
    assert log.lines[HEADER:] == ["hello from bin"]


async def test_sub_dir_is_created(tmp_path: Path) -> None:
    ctx, log = make_ctx(tmp_path, {"cmd": "pwd", "sub-dir": "a/b"})
    assert (await run_exec(ctx)).status == 0
    want = ctx.workspace.resolve() / "a" / "b"
    assert want.is_dir()
    assert log.lines[0] == f"in dir: {want}"
    assert log.lines[HEADER:] == [str(want)]


@pytest.mark.parametrize("sub_dir", ["../..", "a/../../x", "/etc", "out"])
async def test_sub_dir_cannot_escape(tmp_path: Path, sub_dir: str) -> None:
    ctx, _ = make_ctx(tmp_path, {"cmd": "pwd", "sub-dir": sub_dir})
    (ctx.workspace / "out").symlink_to(tmp_path)  # a symlink pointing out of the workspace
    with pytest.raises(NodeError, match=f"sub-dir {re.escape(sub_dir)} escapes the workspace"):
        await run_exec(ctx)


async def test_missing_program(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, {"cmd": "no-such-program-floe --x"})
    with pytest.raises(NodeError, match="program not found: no-such-program-floe"):
        await run_exec(ctx)


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({}, "exec needs opt cmd or shell"),
        ({"cmd": "echo 'open"}, "opt cmd"),
        ({"cmd": "echo", "args": "x"}, "opt args must be a list"),
        ({"cmd": "echo", "env": ["NOVALUE"]}, "KEY=value"),
    ],
)
async def test_bad_opts(tmp_path: Path, opts: dict[str, Any], message: str) -> None:
    ctx, _ = make_ctx(tmp_path, opts)
    with pytest.raises(NodeError, match=message):
        await run_exec(ctx)


async def test_fifty_lines_in_order(tmp_path: Path) -> None:
    ctx, log = make_ctx(tmp_path, {"shell": "for i in $(seq 1 50); do echo line $i; echo err $i >&2; done"})
    assert (await run_exec(ctx)).status == 0
    want = [s for i in range(1, 51) for s in (f"line {i}", f"err {i}")]
    assert log.lines[HEADER:] == want


async def test_long_lines_and_carriage_returns(tmp_path: Path) -> None:
    script = "import sys; sys.stdout.write('x' * 200000 + '\\n1%\\r2%\\r\\ndone\\r\\nlast')"
    lines: list[str] = []
    status = await proc.run(["python3", "-c", script], cwd=tmp_path, env=os.environ, on_line=lines.append)
    assert status == 0
    assert "".join(lines[:-4]) == "x" * 200000
    assert max(len(s) for s in lines) <= proc.MAX_LINE
    assert lines[-4:] == ["1%", "2%", "done", "last"]


async def test_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    lines: list[str] = []
    status = await proc.run(["printf", "a\\377b\\n"], cwd=tmp_path, env=os.environ, on_line=lines.append)
    assert status == 0
    assert lines == ["a\ufffdb"]


async def test_background_child_does_not_hang_the_node(tmp_path: Path) -> None:
    ctx, log = make_ctx(tmp_path, {"shell": "sleep 300 & echo $!"})
    assert (await run_exec(ctx)).status == 0
    assert await exited(int(log.lines[HEADER]))


async def test_background_child_without_our_pipe_is_stopped_too(tmp_path: Path) -> None:
    ctx, log = make_ctx(tmp_path, {"shell": "sleep 300 >/dev/null 2>&1 & echo $!"})
    assert (await run_exec(ctx)).status == 0
    assert await exited(int(log.lines[HEADER]))


async def test_timeout_kills_the_process_group(tmp_path: Path) -> None:
    # the hub applies a node's `timeout` as asyncio.timeout() around the task, as here
    script = "trap '' TERM; sleep 300 & echo $!; wait"  # everything ignores SIGTERM: needs SIGKILL
    ctx, log = make_ctx(tmp_path, {"shell": script}, grace=0.2)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.0):
            await run_exec(ctx)
    assert await exited(int(log.lines[HEADER]))


@pytest.mark.parametrize("ignore_term", [False, True])
async def test_cancel_kills_the_group_and_reraises(tmp_path: Path, ignore_term: bool) -> None:
    trap = "trap '' TERM; " if ignore_term else ""
    ctx, log = make_ctx(tmp_path, {"shell": f"{trap}sleep 300 & echo $!; wait"}, grace=0.5)
    task = asyncio.create_task(run_exec(ctx))
    pid = int((await log.wait_for(r"^\d+$")).group())
    loop = asyncio.get_running_loop()
    cancelled_at = loop.time()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert loop.time() - cancelled_at < 0.5 + 5  # the grace period, plus slack for a busy machine
    assert await exited(pid)


async def test_second_cancel_during_grace_still_reaps(tmp_path: Path) -> None:
    ctx, log = make_ctx(tmp_path, {"shell": "trap '' TERM; sleep 300 & echo $!; wait"}, grace=0.5)
    task = asyncio.create_task(run_exec(ctx))
    pid = int((await log.wait_for(r"^\d+$")).group())
    task.cancel()
    await asyncio.sleep(0)  # let the first cancellation land before the second
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await exited(pid)


async def test_exit_is_awaited_by_a_thread_where_there_is_no_pidfd(tmp_path: Path) -> None:
    child = proc._spawn(["sh", "-c", "exit 3"], tmp_path, os.environ, subprocess.DEVNULL)
    assert await proc._exit_by_thread(child) == 3
    assert child.returncode == 3  # reaped
