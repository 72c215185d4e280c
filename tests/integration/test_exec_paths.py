"""floe's path rules in exec arguments (`.`, `./x`, `K=./v`, `{{ws}}`), as floe applied them."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_exec import HEADER, make_ctx, run_exec


async def test_cmd_words_and_args_name_the_workspace_whatever_the_sub_dir(tmp_path: Path) -> None:
    ctx, log = make_ctx(
        tmp_path,
        {
            "cmd": "printf '%s\\n' . ./src K=./v --out=. ./... a=b=./c {{ws}}/x $V ./$V",
            "args": ["./arg", "L=."],
            "sub-dir": "build",
            "env": ["V=val"],
        },
    )
    assert (await run_exec(ctx)).status == 0
    ws = ctx.workspace
    assert log.lines[0] == f"in dir: {ws / 'build'}"
    assert log.lines[HEADER:] == [
        str(ws),
        f"{ws}/src",
        f"K={ws}/v",
        f"--out={ws}",
        "./...",  # floe's own exception
        "a=b=./c",  # two `=`: the word is expanded whole, and it does not start with ./
        f"{ws}/x",
        "val",
        f"{ws}/val",
        f"{ws}/arg",
        f"L={ws}",
    ]


async def test_the_program_itself_keeps_its_relative_path(tmp_path: Path) -> None:
    ctx, log = make_ctx(tmp_path, {"cmd": "./tool .", "sub-dir": "bin"})
    tool = ctx.workspace / "bin" / "tool"
    tool.parent.mkdir()
    tool.write_text('#!/bin/sh\necho "ran in $(pwd) with $1"\n')
    tool.chmod(0o755)
    assert (await run_exec(ctx)).status == 0
    assert log.lines[HEADER:] == [f"ran in {tool.parent} with {ctx.workspace}"]
