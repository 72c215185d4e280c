"""The `git-checkout` and `git-merge` tasks: real `git` commands whose output streams into the log."""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floe.config.sources import git_cause
from floe.model.opts import OptError, opt_str
from floe.model.run import REASON
from floe.nodes import paths, proc
from floe.nodes.base import NodeContext, NodeError, Outcome

IDENTITY = {
    "GIT_AUTHOR_NAME": "floe",
    "GIT_AUTHOR_EMAIL": "floe@localhost",
    "GIT_COMMITTER_NAME": "floe",
    "GIT_COMMITTER_EMAIL": "floe@localhost",
}
_HASH = re.compile(r"[0-9a-fA-F]{4,64}")
_CREDENTIALS = re.compile(r"(://[^/@\s:]+):[^/@\s]*@")


def redact(text: str) -> str:
    """Hide the password of any `scheme://user:password@host` in a log line."""
    return _CREDENTIALS.sub(r"\1:***@", text)


def repo_name(url: str) -> str:
    """The directory `git clone <url>` would create: the last path part without `.git`."""
    path = url.rstrip("/")
    path = path.removesuffix("/.git").rstrip("/")
    name = re.split(r"[/:\\]", path)[-1].removesuffix(".git")
    if name in ("", ".", ".."):
        raise NodeError(f"cannot tell the repository name from url {url!r}")
    return name


@dataclass(frozen=True, slots=True)
class Git:
    """Runs git for one task: its environment, and its log."""

    ctx: NodeContext
    env: Mapping[str, str]
    said: list[str] = field(default_factory=list)  # the last command: its words, then its output

    async def run(self, args: Sequence[str], cwd: Path) -> int:
        """Run one git command; all its output (stdout and stderr) goes to the node's log."""
        argv = ["git", *args]
        self.ctx.log("$ " + redact(shlex.join(argv)))
        words = zip(args, ("", *args), strict=False)  # each word with the one before it
        self.said[:] = [next((a for a, before in words if a[:1] != "-" and before != "-c"), "")]

        def line(text: str) -> None:
            text = redact(text.rstrip())
            self.said.append(text)
            self.ctx.log(text)

        return await proc.run(argv, cwd=cwd, env=self.env, on_line=line, grace=self.ctx.grace)

    def failed(self, status: int) -> Outcome:
        """The outcome of the command that just failed: its status, and as the reason git's first
        meaningful line (`git clone: fatal: ...`)."""
        command, output = self.said[0], self.said[1:]
        return Outcome(status, {REASON: f"git {command}: {git_cause(output) or f'exit status {status}'}"})

    async def head(self, repo: Path) -> str:
        out: list[str] = []
        status = await proc.run(
            ["git", "rev-parse", "HEAD"], cwd=repo, env=self.env, on_line=out.append, grace=self.ctx.grace
        )
        if status != 0 or not out:
            raise NodeError(f"git rev-parse HEAD failed in {repo}: {' '.join(out)}")
        return out[0].strip()


def git_env(ctx: NodeContext, key_file: str) -> dict[str, str]:
    """Host + flow + task env, no credential prompts, floe's commit identity unless one is set,
    and `GIT_SSH_COMMAND` with the key file when there is one."""
    env = ctx.process_env()
    env["GIT_TERMINAL_PROMPT"] = "0"
    for name, value in IDENTITY.items():
        env.setdefault(name, value)
    if key_file:
        key = shlex.quote(str(Path(key_file).expanduser()))
        env["GIT_SSH_COMMAND"] = (
            f"ssh -i {key} -o IdentitiesOnly=yes -o StrictHostKeyChecking=accept-new -o BatchMode=yes"
        )
    return env


def _strs(opts: Mapping[str, Any], *keys: str) -> list[str]:
    try:
        return [opt_str(opts, k) for k in keys]
    except OptError as exc:
        raise NodeError(str(exc)) from exc


def _target(ctx: NodeContext, sub_dir: str, url: str) -> Path:
    """`<ws>/<sub-dir>/<repo-name>`: created parent, and the repo directory, which must be new or empty.

    Both are confined to the workspace by the rule every node type uses (`paths.inside`), symlinks
    included: a repo directory an earlier task made a link to elsewhere is refused."""
    parent = paths.inside(ctx.workspace, sub_dir or ".", what="sub-dir")
    parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    target = paths.inside(ctx.workspace, str(parent / repo_name(url)), what="checkout directory")
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise NodeError(f"{target} already exists and is not an empty directory")
    return target


async def _fetch_hash(git: Git, url: str, sha: str, target: Path) -> int:
    """`git init` + a shallow fetch of exactly `sha`; all branches and tags when the server refuses."""
    if status := await git.run(["init", "-q", str(target)], target.parent):
        return status
    if status := await git.run(["remote", "add", "origin", "--", url], target):
        return status
    if await git.run(["fetch", "--progress", "--depth", "1", "origin", sha], target):
        git.ctx.log("fetch by hash refused: fetching all branches and tags")
        if status := await git.run(["fetch", "--progress", "--tags", "origin"], target):
            return status
    return await git.run(["-c", "advice.detachedHead=false", "checkout", "--detach", sha], target)


async def checkout(ctx: NodeContext) -> Outcome:
    """Clone `branch` of `url` shallowly into `<ws>/<sub-dir>/<repo-name>`, or check out exactly
    `hash`. When the opts name neither, the run's data may (floe's `branch` form field, poll-git's
    `branch` and `hash`; never `url`, paths or commands). Outcome opts `{"checked-out-hash": <sha>}`
    (not `hash`, which a later checkout would take as its own). A git failure is its non-zero status."""
    url, branch, sha, sub_dir, key = _strs(ctx.opts, "url", "branch", "hash", "sub-dir", "key-file")
    if not branch and not sha:  # floe's channel: a form field or poll-git names what to check out
        branch, sha = _strs(ctx.values, "branch", "hash")
    if not url:
        raise NodeError("git-checkout needs opt url")
    if not branch and not sha:
        raise NodeError("git-checkout needs opt branch (or hash)")
    if sha and not _HASH.fullmatch(sha):
        raise NodeError(f"opt hash {sha!r} is not a commit hash")
    git = Git(ctx, git_env(ctx, key or ctx.git_key))
    target = _target(ctx, sub_dir, url)
    if sha:
        status = await _fetch_hash(git, url, sha, target)
    else:
        clone = ["clone", "--progress", "--depth", "1", f"--branch={branch}", "--", url, str(target)]
        status = await git.run(clone, target.parent)
    if status:
        return git.failed(status)
    head = await git.head(target)
    ctx.log(f"checked out {head}")
    return Outcome(0, {"checked-out-hash": head})


async def merge(ctx: NodeContext) -> Outcome:
    """Clone `branch`, merge `origin/<from-branch>` into it, push it back to `url`.

    Works in `<ws>/<sub-dir>/<repo-name>` (sub-dir default `.git-merge/<node id>`). A conflict or a
    rejected push is the failing git command's non-zero status; outcome opts `{"merged-hash": <sha>}`.
    """
    opts = ("url", "branch", "from-branch", "sub-dir", "key-file")
    url, branch, from_branch, sub_dir, key = _strs(ctx.opts, *opts)
    missing = [k for k, v in zip(opts[:3], (url, branch, from_branch), strict=True) if not v]
    if missing:
        raise NodeError(f"git-merge needs opt {', '.join(missing)}")
    git = Git(ctx, git_env(ctx, key or ctx.git_key))
    target = _target(ctx, sub_dir or f".git-merge/{ctx.node.id}", url)
    steps = (
        (["clone", "--progress", f"--branch={branch}", "--", url, str(target)], target.parent),
        (["merge", "--no-edit", "--progress", f"origin/{from_branch}"], target),
        (["push", "--progress", "origin", f"HEAD:refs/heads/{branch}"], target),
    )
    for args, cwd in steps:
        if status := await git.run(args, cwd):
            return git.failed(status)
    head = await git.head(target)
    ctx.log(f"merged {from_branch} into {branch} at {head}")
    return Outcome(0, {"merged-hash": head})
