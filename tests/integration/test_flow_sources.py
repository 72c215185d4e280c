"""Configs and flow-files read from real git repositories (file://) and a real HTTP server with ETags."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from floe.config import ConfigError
from floe.config.errors import FlowFileError
from floe.config.sources import (
    SourceError,
    SourceFlowFiles,
    git_env,
    load_config_source,
    parse_source,
    run_git,
)
from floe.model.flow import Flow
from tests.support.files import FileServer, serving
from tests.support.gitrepo import Repo

HOST = """
common:
  workspace-root: /tmp/floe-ws-test
flows:
  - id: build
    ver: 1
    flow-file: {flow_file}
    triggers: [{{id: go, type: data}}]
"""


def doc(echo: str) -> str:
    return f"""
id: build
resource-tags: [couchbase, nic]
tasks:
  - {{id: say, listen: trigger.good, type: exec, opts: {{cmd: "echo {echo}"}}}}
  - {{id: builds, class: merge, wait: [task.say.good]}}
  - {{id: done, listen: merge.builds.good, type: end}}
"""


def cmd_of(flow: Flow) -> str:
    node = flow.node("say")
    assert node is not None
    return str(node.opts["cmd"])


async def test_git_flow_file_follows_the_ref_and_reuses_the_cache(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repos")
    repo.commit({"flows/build.yml": doc("v1")}, "v1")
    files = SourceFlowFiles(tmp_path / "cache")
    flow = Flow(id="build", ver=1, flow_file=f"git+{repo.url}#flows/build.yml@main", source="/x/h.yml")
    first = await files.resolve(flow)
    assert cmd_of(first) == "echo v1"
    assert first.resource_tags == ("couchbase", "nic")
    assert flow.tasks == ()  # the loaded flow is never changed
    cache = files.repo_dir(repo.url)
    marker = cache / "floe-test-marker"
    marker.write_text("kept")
    repo.commit({"flows/build.yml": doc("v2")}, "v2")
    second = await files.resolve(flow)
    assert cmd_of(second) == "echo v2"
    assert marker.read_text() == "kept"  # fetched into the same cache, not cloned again
    assert cmd_of(first) == "echo v1"
    assert (cache / "shallow").exists()


async def test_git_other_branch_and_default_branch(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repos")
    repo.commit({"f.yml": doc("main")})
    repo.commit({"f.yml": doc("dev")}, branch="dev")
    files = SourceFlowFiles(tmp_path / "cache")
    assert await files.read(parse_source(f"git+{repo.url}#f.yml")) == doc("main").encode()
    assert await files.read(parse_source(f"git+{repo.url}#f.yml@dev")) == doc("dev").encode()
    reads = await asyncio.gather(
        *(files.read(parse_source(f"git+{repo.url}#f.yml@{b}")) for b in ["main", "dev"] * 4)
    )
    assert reads == [doc(b).encode() for b in ["main", "dev"] * 4]  # one cache, serialised


async def test_git_failures_are_flow_file_errors(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repos")
    repo.commit(
        {"f.yml": doc("x"), "bad.yml": "id: build\ntasks: [{id: t, type: nope, listen: trigger.good}]\n"}
    )
    files = SourceFlowFiles(tmp_path / "cache")

    async def fails(spec: str) -> str:
        with pytest.raises(FlowFileError) as info:
            await files.resolve(Flow(id="build", flow_file=spec, source="/x/h.yml"))
        return str(info.value)

    assert "no file missing.yml" in await fails(f"git+{repo.url}#missing.yml@main")
    assert "git fetch" in await fails(f"git+{repo.url}#f.yml@no-such-branch")
    assert "git fetch" in await fails(f"git+{(tmp_path / 'nowhere.git').as_uri()}#f.yml")
    assert "not a valid flow" in await fails(f"git+{repo.url}#bad.yml@main")
    assert "nope" in await fails(f"git+{repo.url}#bad.yml@main")


@pytest.fixture
def server() -> Iterator[FileServer]:
    with serving() as s:
        yield s


async def test_http_flow_file_revalidates_with_etag(tmp_path: Path, server: FileServer) -> None:
    server.files["/flows/build.yml"] = doc("h1").encode()
    files = SourceFlowFiles(tmp_path / "cache")
    flow = Flow(id="build", ver=1, flow_file=f"{server.url}/flows/build.yml", source="/x/h.yml")
    assert cmd_of(await files.resolve(flow)) == "echo h1"
    assert cmd_of(await files.resolve(flow)) == "echo h1"
    assert server.counts == {200: 1, 304: 1}
    server.files["/flows/build.yml"] = doc("h2").encode()
    assert cmd_of(await files.resolve(flow)) == "echo h2"
    assert server.counts == {200: 2, 304: 1}
    assert len(server.seen_if_none_match) == 2
    with pytest.raises(FlowFileError, match="404"):
        await files.resolve(Flow(id="build", flow_file=f"{server.url}/nope.yml", source="/x/h.yml"))
    with pytest.raises(FlowFileError, match=re.escape("GET http://127.0.0.1:1/")):
        await files.resolve(Flow(id="build", flow_file="http://127.0.0.1:1/x.yml", source="/x/h.yml"))


async def test_config_from_git_with_a_relative_flow_file(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repos")
    repo.commit(
        {"conf/host.yml": HOST.format(flow_file="flows/build.yml"), "conf/flows/build.yml": doc("g1")}
    )
    spec = f"git+{repo.url}#conf/host.yml@main"
    config = await load_config_source(spec, tmp_path / "cache")
    assert config.source == spec
    flow = config.flow("build")
    assert flow is not None and flow.source == spec
    files = SourceFlowFiles(tmp_path / "cache")
    assert cmd_of(await files.resolve(flow)) == "echo g1"  # the same repo and ref as the config
    repo.commit({"conf/flows/build.yml": doc("g2")})
    assert cmd_of(await files.resolve(flow)) == "echo g2"  # read at trigger time


async def test_config_from_http_and_file(tmp_path: Path, server: FileServer) -> None:
    server.files["/conf/host.yml"] = HOST.format(flow_file="build.yml").encode()
    server.files["/conf/build.yml"] = doc("web").encode()
    config = await load_config_source(f"{server.url}/conf/host.yml", tmp_path / "cache")
    flow = config.flow("build")
    assert flow is not None
    assert cmd_of(await SourceFlowFiles(tmp_path / "c").resolve(flow)) == "echo web"
    local = tmp_path / "host.yml"
    local.write_text(HOST.format(flow_file="build.yml"))
    (tmp_path / "build.yml").write_text(doc("disk"))
    config = await load_config_source(str(local), tmp_path / "cache")
    flow = config.flow("build")
    assert flow is not None and flow.source == str(local)
    assert cmd_of(await SourceFlowFiles(tmp_path / "c").resolve(flow)) == "echo disk"


async def test_config_source_errors_are_config_errors(tmp_path: Path, server: FileServer) -> None:
    repo = Repo(tmp_path / "repos")
    repo.commit({"host.yml": "common: {bogus: 1}\nflows: []\n"})
    for spec, words in [
        (f"git+{repo.url}#host.yml@main", "bogus"),
        (f"git+{repo.url}#missing.yml@main", "cannot read"),
        (f"{server.url}/missing.yml", "404"),
        (str(tmp_path / "missing.yml"), "cannot read"),
    ]:
        with pytest.raises(ConfigError, match=words):
            await load_config_source(spec, tmp_path / "cache")


async def test_a_hanging_git_is_killed_with_its_process_group(tmp_path: Path) -> None:
    marker = f"{time.monotonic_ns() % 1000 + 31}.25"  # an unusual sleep length to find leftovers by
    env = {**git_env(), "GIT_SSH_COMMAND": f"sleep {marker} #"}
    with pytest.raises(SourceError, match="timed out"):
        await run_git(["ls-remote", "--", "ssh://example.invalid/repo.git"], env=env, timeout=0.5)
    leftovers = await asyncio.to_thread(
        subprocess.run, ["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True, check=False
    )
    assert leftovers.stdout.strip() == ""


async def test_a_git_source_failure_names_gits_cause_not_its_last_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.git"
    files = SourceFlowFiles(tmp_path / "cache")
    with pytest.raises(FlowFileError) as info:
        await files.resolve(Flow(id="build", flow_file=f"git+{missing.as_uri()}#f.yml", source="/x/h.yml"))
    assert f"fatal: '{missing}' does not appear to be a git repository" in str(info.value)
    assert "and the repository exists" not in str(info.value)
