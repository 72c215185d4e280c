"""git-checkout and git-merge against real bare repositories over file://."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from floe.model.flow import Node, NodeClass
from floe.nodes import git as git_nodes
from floe.nodes.base import NodeContext, NodeError, Outcome
from floe.nodes.registry import EXECUTORS


def git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


@dataclass(frozen=True)
class Remote:
    """A bare repo `remote.git` with `main` (commits one, two, three) and `feature` (from two, adds b)."""

    bare: Path
    seed: Path
    url: str
    one: str
    two: str

    def commit(self, branch: str, name: str, text: str, message: str) -> str:
        if git("symbolic-ref", "--short", "HEAD", cwd=self.seed) != branch:
            git("checkout", "-q", branch, cwd=self.seed)
        (self.seed / name).write_text(text)
        git("add", name, cwd=self.seed)
        git("commit", "-qm", message, cwd=self.seed)
        git("push", "-q", "origin", branch, cwd=self.seed)
        return git("rev-parse", "HEAD", cwd=self.seed)

    def head(self, branch: str) -> str:
        return git("rev-parse", f"refs/heads/{branch}", cwd=self.bare)


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    bare = tmp_path / "remote.git"
    seed = tmp_path / "seed"
    git("init", "-q", "--bare", "-b", "main", str(bare), cwd=tmp_path)
    git("init", "-q", "-b", "main", str(seed), cwd=tmp_path)
    git("config", "user.name", "Test", cwd=seed)
    git("config", "user.email", "test@example.invalid", cwd=seed)
    git("remote", "add", "origin", bare.as_uri(), cwd=seed)
    r = Remote(bare, seed, bare.as_uri(), "", "")
    one = r.commit("main", "a.txt", "one\n", "one")
    two = r.commit("main", "a.txt", "two\n", "two")
    git("branch", "feature", cwd=seed)
    r.commit("feature", "b.txt", "feature\n", "add b")
    return Remote(bare, seed, bare.as_uri(), one, two)


def make_ctx(
    tmp_path: Path, node_type: str, opts: Mapping[str, Any], flow_env: tuple[str, ...] = ()
) -> tuple[NodeContext, list[str]]:
    ws = tmp_path / "ws"
    ws.mkdir(exist_ok=True)
    lines: list[str] = []
    node = Node(id="vcs", name="vcs", cls=NodeClass.TASK, type=node_type, opts=opts)
    ctx = NodeContext(
        run_id="h1-1",
        flow_id="flow",
        node=node,
        opts=opts,
        flow_env=flow_env,
        workspace=ws,
        cache_dir=tmp_path / "cache",
        log=lines.append,
    )
    return ctx, lines


async def run(ctx: NodeContext) -> Outcome:
    return await EXECUTORS[ctx.node.type](ctx)


async def test_checkout_branch(tmp_path: Path, remote: Remote) -> None:
    ctx, lines = make_ctx(tmp_path, "git-checkout", {"url": remote.url, "branch": "main"})
    out = await run(ctx)
    assert out.status == 0
    assert out.opts == {"checked-out-hash": remote.head("main")}
    repo = ctx.workspace / "remote"
    assert (repo / "a.txt").read_text() == "two\n"
    assert git("rev-list", "--count", "HEAD", cwd=repo) == "1"  # shallow
    assert any(line.startswith("$ git clone --progress --depth 1 --branch=main") for line in lines)
    assert f"checked out {remote.head('main')}" in lines


async def test_checkout_other_branch_into_sub_dir(tmp_path: Path, remote: Remote) -> None:
    opts = {"url": remote.url, "branch": "feature", "sub-dir": "src"}
    ctx, _ = make_ctx(tmp_path, "git-checkout", opts)
    out = await run(ctx)
    assert out.status == 0
    repo = ctx.workspace / "src" / "remote"
    assert (repo / "b.txt").read_text() == "feature\n"
    assert out.opts == {"checked-out-hash": remote.head("feature")}


async def test_checkout_exact_older_hash(tmp_path: Path, remote: Remote) -> None:
    ctx, _ = make_ctx(tmp_path, "git-checkout", {"url": remote.url, "branch": "main", "hash": remote.one})
    out = await run(ctx)
    assert out.status == 0
    assert out.opts == {"checked-out-hash": remote.one}
    assert (ctx.workspace / "remote" / "a.txt").read_text() == "one\n"


async def test_checkout_hash_falls_back_when_the_server_refuses_it(tmp_path: Path, remote: Remote) -> None:
    # protocol v0 without uploadpack.allowReachableSHA1InWant refuses a fetch by hash
    v0 = ("GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=protocol.version", "GIT_CONFIG_VALUE_0=0")
    ctx, lines = make_ctx(tmp_path, "git-checkout", {"url": remote.url, "hash": remote.one}, v0)
    out = await run(ctx)
    assert out.status == 0
    assert "fetch by hash refused: fetching all branches and tags" in lines
    assert out.opts == {"checked-out-hash": remote.one}
    assert (ctx.workspace / "remote" / "a.txt").read_text() == "one\n"


async def test_checkout_abbreviated_hash(tmp_path: Path, remote: Remote) -> None:
    ctx, _ = make_ctx(tmp_path, "git-checkout", {"url": remote.url, "hash": remote.one[:10]})
    out = await run(ctx)
    assert out.status == 0
    assert out.opts == {"checked-out-hash": remote.one}


async def test_checkout_missing_repo_fails_with_gits_message(tmp_path: Path) -> None:
    url = (tmp_path / "nowhere.git").as_uri()
    ctx, lines = make_ctx(tmp_path, "git-checkout", {"url": url, "branch": "main"})
    out = await run(ctx)
    assert out.status != 0
    assert any("fatal:" in line for line in lines)


async def test_checkout_missing_branch_fails(tmp_path: Path, remote: Remote) -> None:
    ctx, lines = make_ctx(tmp_path, "git-checkout", {"url": remote.url, "branch": "nope"})
    out = await run(ctx)
    assert out.status != 0
    assert any("nope" in line for line in lines[1:])


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        ({"branch": "main"}, "needs opt url"),
        ({"url": "file:///x/r.git"}, "needs opt branch"),
        ({"url": "file:///x/r.git", "hash": "not-a-sha"}, "is not a commit hash"),
        ({"url": "file:///x/r.git", "branch": "main", "sub-dir": "../.."}, "sub-dir ../.. escapes"),
        ({"url": "file:///x/r.git", "branch": ["main"]}, "opt branch must be a string"),
    ],
)
async def test_checkout_bad_opts(tmp_path: Path, opts: dict[str, Any], message: str) -> None:
    ctx, _ = make_ctx(tmp_path, "git-checkout", opts)
    with pytest.raises(NodeError, match=message):
        await run(ctx)


async def test_checkout_into_non_empty_dir_is_refused(tmp_path: Path, remote: Remote) -> None:
    ctx, _ = make_ctx(tmp_path, "git-checkout", {"url": remote.url, "branch": "main"})
    (ctx.workspace / "remote").mkdir()
    (ctx.workspace / "remote" / "junk").write_text("x")
    with pytest.raises(NodeError, match="already exists"):
        await run(ctx)


async def test_merge_is_real_and_pushed(tmp_path: Path, remote: Remote) -> None:
    three = remote.commit("main", "c.txt", "main moved on\n", "three")
    feature = remote.head("feature")
    opts = {"url": remote.url, "branch": "main", "from-branch": "feature"}
    ctx, lines = make_ctx(tmp_path, "git-merge", opts)
    out = await run(ctx)
    assert out.status == 0, lines
    merged = remote.head("main")
    assert out.opts == {"merged-hash": merged}
    parents = git("rev-list", "--parents", "-n", "1", merged, cwd=remote.bare).split()[1:]
    assert parents == [three, feature]
    files = git("ls-tree", "--name-only", merged, cwd=remote.bare).split()
    assert files == ["a.txt", "b.txt", "c.txt"]
    author = git("log", "-1", "--format=%an <%ae>", merged, cwd=remote.bare)
    assert author == "floe <floe@localhost>"


async def test_merge_conflict_fails_and_pushes_nothing(tmp_path: Path, remote: Remote) -> None:
    remote.commit("feature", "a.txt", "feature's two\n", "feature edits a")
    before = remote.commit("main", "a.txt", "main's two\n", "main edits a")
    opts = {"url": remote.url, "branch": "main", "from-branch": "feature"}
    ctx, lines = make_ctx(tmp_path, "git-merge", opts)
    out = await run(ctx)
    assert out.status != 0
    assert any("CONFLICT" in line for line in lines)
    assert remote.head("main") == before


async def test_merge_needs_its_opts(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, "git-merge", {"url": "file:///x/r.git"})
    with pytest.raises(NodeError, match="git-merge needs opt branch, from-branch"):
        await run(ctx)


@pytest.mark.parametrize(
    ("url", "name"),
    [
        ("git@github.com:floeit/floe.git", "floe"),
        ("https://example.com/a/b/repo.git/", "repo"),
        ("file:///tmp/x/remote.git", "remote"),
        ("/srv/repo/.git", "repo"),
        ("ssh://host/plain", "plain"),
    ],
)
def test_repo_name(url: str, name: str) -> None:
    assert git_nodes.repo_name(url) == name


def test_redact_hides_passwords() -> None:
    line = "$ git clone -- https://bot:t0ken@example.com/r.git r"
    assert git_nodes.redact(line) == "$ git clone -- https://bot:***@example.com/r.git r"


def test_key_file_sets_ssh_command(tmp_path: Path) -> None:
    ctx, _ = make_ctx(tmp_path, "git-checkout", {"env": ["GIT_AUTHOR_NAME=me"]})
    env = git_nodes.git_env(ctx, "/keys/id ed")
    assert env["GIT_SSH_COMMAND"].startswith("ssh -i '/keys/id ed' -o IdentitiesOnly=yes")
    assert env["GIT_TERMINAL_PROMPT"] == "0"
    assert env["GIT_AUTHOR_NAME"] == "me"  # the flow's or task's own identity wins
    assert env["GIT_COMMITTER_NAME"] == "floe"


@pytest.mark.parametrize(
    ("node_type", "opts", "planted"),
    [
        ("git-checkout", {"branch": "main"}, "remote"),
        ("git-checkout", {"branch": "main", "sub-dir": "src"}, "src/remote"),
        ("git-merge", {"branch": "main", "from-branch": "feature"}, ".git-merge/vcs/remote"),
    ],
)
async def test_a_symlink_planted_by_an_earlier_task_is_not_followed_out(
    tmp_path: Path, remote: Remote, node_type: str, opts: dict[str, Any], planted: str
) -> None:
    """An earlier task of the run makes the repo directory a symlink to an empty directory (or to
    nothing) outside the workspace: the clone is refused, and nothing is written out there."""
    ctx, _ = make_ctx(tmp_path, node_type, {"url": remote.url, **opts})
    outside = tmp_path / "outside"
    outside.mkdir()
    link = ctx.workspace / planted
    link.parent.mkdir(parents=True, exist_ok=True)
    for target in (outside, tmp_path / "nothing-yet"):
        link.unlink(missing_ok=True)
        link.symlink_to(target)
        with pytest.raises(NodeError, match="escapes the workspace"):
            await run(ctx)
        assert list(outside.iterdir()) == [] and not (tmp_path / "nothing-yet").exists()
