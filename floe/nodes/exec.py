"""The `exec` task: run `cmd` (shell-quoted words) or a bash `shell` script in the workspace."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from floe.model.opts import OptError, expand_arg, expand_command_vars, opt_str, opt_str_list
from floe.nodes import paths, proc
from floe.nodes.base import NodeContext, NodeError, Outcome
from floe.nodes.outputs import OUTPUT_VAR, output_file


def command(opts: Mapping[str, Any], env: Mapping[str, str]) -> tuple[list[str], str]:
    """The argv of an exec task, and the line that shows it in the log.

    `cmd` is split like a shell would, then the program gets `{{ws}}` and `$VAR` expanded against
    `env`, and every other word and arg also floe's path rules (`.`, `./x`, `K=./v` name the
    workspace: `expand_arg`); the log line shows the words before expansion, so variable values
    (maybe secrets) stay out of it. `shell` runs as `bash -c` with the args appended, where only
    `{{ws}}` is replaced: the script is bash's to read, paths and variables included.

    Error handling: OptError when neither `cmd` nor `shell` is set or `cmd` has unbalanced quotes.
    """
    cmd = opt_str(opts, "cmd")
    args = opt_str_list(opts, "args")
    if cmd:
        try:
            words = shlex.split(cmd)
        except ValueError as exc:
            raise OptError(f"opt cmd {cmd!r}: {exc}") from None
        if not words:
            raise OptError("opt cmd is empty")
        words += args
        argv = [expand_command_vars(words[0], env), *(expand_arg(w, env) for w in words[1:])]
        return argv, shlex.join(words)
    shell = opt_str(opts, "shell")
    if not shell:
        raise OptError("exec needs opt cmd or shell")
    script = " ".join((shell, *args)).replace("{{ws}}", env.get("FLOEWS", ""))
    argv = ["bash", "-c", script]
    return argv, shlex.join(argv)


def prepare(ctx: NodeContext) -> tuple[list[str], str, Path, dict[str, str]]:
    """argv, its log line, working directory (created) and environment of an exec task."""
    env = ctx.process_env()
    try:
        argv, shown = command(ctx.opts, env)
        sub_dir = opt_str(ctx.opts, "sub-dir")
    except OptError as exc:
        raise NodeError(str(exc)) from exc
    if not sub_dir or sub_dir == ".":
        return argv, shown, ctx.workspace, env  # the runner made it: nothing to resolve or create
    cwd = paths.inside(ctx.workspace, sub_dir, what="sub-dir")
    try:
        cwd.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise NodeError(f"sub-dir {sub_dir}: {exc.strerror or exc}") from exc
    return argv, shown, cwd, env


async def execute(ctx: NodeContext) -> Outcome:
    """Run the command; the outcome's status is its exit status (128+N when killed by signal N), and
    its opts are the outputs the command wrote to `$FLOE_OUTPUT`."""
    argv, shown, cwd, env = prepare(ctx)
    ctx.log(f"in dir: {cwd}")
    ctx.log(shown)
    ctx.log("")
    with output_file(ctx.log) as (path, read):
        env[OUTPUT_VAR] = str(path)
        status = await proc.run(argv, cwd=cwd, env=env, on_line=ctx.log, grace=ctx.grace)
        outputs = read()
    if status != 0:
        ctx.log("")
        ctx.log(f"exited with status: {status}")
    return Outcome(status, outputs)
