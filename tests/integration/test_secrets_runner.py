"""The runner gives tasks their secrets and masks every line, reason and result it posts to the hub."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from floe.hub.messages import Lines, Message, NodeDone
from floe.hub.runner import RunTasks
from floe.model.flow import Flow, Node, NodeClass
from floe.model.run import Start

TOKEN = "tok-9Qv2Xw7LmZ3p8Rt"


async def run_node(tmp_path: Path, opts: Mapping[str, Any], secrets: Mapping[str, str]) -> list[Message]:
    node = Node(id="t", name="t", cls=NodeClass.TASK, type="exec", listen="trigger.good", opts=opts)
    flow = Flow(id="f", env=("TOKEN=${secret:T}",), tasks=(node,))
    got: asyncio.Queue[Message] = asyncio.Queue()
    tasks = RunTasks(
        "h1-1", flow, tmp_path / "ws", tmp_path / "cache", got.put_nowait, fresh=True, secrets=secrets
    )
    runner = asyncio.create_task(tasks.main())
    tasks.inbox.put_nowait(Start("t", dict(opts)))
    seen: list[Message] = []
    try:
        async with asyncio.timeout(30):
            while not isinstance(msg := await got.get(), NodeDone):
                seen.append(msg)
        seen.append(msg)
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
    return seen


async def test_output_and_reasons_are_masked(tmp_path: Path) -> None:
    shell = (
        'echo "plain $TOKEN"; echo "${TOKEN:0:8}"; echo "${TOKEN:8}"; echo -n "$TOKEN" | base64; '
        'set -x; : "$TOKEN"; set +x; ls "/nope/$TOKEN"; exit 3'
    )
    opts = {"shell": shell, "env": ["OTHER=x-${secret:T}-y"]}
    seen = await run_node(tmp_path, opts, {"T": TOKEN})
    lines = [line for m in seen if isinstance(m, Lines) for line in m.lines]
    text = "\n".join(lines)
    assert TOKEN not in text and TOKEN[:8] not in text and TOKEN[8:] not in text
    assert base64.b64encode(TOKEN.encode()).decode()[:12] not in text
    assert "plain ***" in lines and "+ : ***" in lines
    assert any("/nope/***" in line for line in lines)
    done = seen[-1]
    assert isinstance(done, NodeDone) and done.status == 3


async def test_unknown_secret_fails_the_node_at_run_time(tmp_path: Path) -> None:
    seen = await run_node(tmp_path, {"cmd": "true", "env": ["A=${secret:NOPE}"]}, {"T": TOKEN})
    done = seen[-1]
    assert isinstance(done, NodeDone) and done.error == "unknown secret NOPE"


async def test_error_messages_are_masked(tmp_path: Path) -> None:
    seen = await run_node(tmp_path, {"cmd": "$TOKEN --flag"}, {"T": TOKEN})
    done = seen[-1]
    assert isinstance(done, NodeDone)
    assert done.error == "program not found: ***"
    assert [line for m in seen if isinstance(m, Lines) for line in m.lines][-1] == "program not found: ***"
