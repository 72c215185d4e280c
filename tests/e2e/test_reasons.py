"""A failed run's reason names the node and the cause (exit status, timeout, signal, error, git's
own message) in a user's words, never an engine tag."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import HostFactory
from tests.support.host import FloeHost, free_port

CONF = """
common:
  workspace-root: {root}/ws
  store-type: local
  store-root: {root}/store
flows:
  - id: status
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: package, listen: trigger.good, type: exec, opts: {shell: "exit 2"}}
      - {id: done, listen: task.package.good, type: end}
  - id: slow
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: wait, listen: trigger.good, type: exec, timeout: 0.5, opts: {cmd: "sleep 120"}}
  - id: killed
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: victim, listen: trigger.good, type: exec, opts: {shell: "kill -9 $$"}}
  - id: missing
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: tool, listen: trigger.good, type: exec, opts: {cmd: "no-such-program-floe"}}
  - id: ended
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: deploy, listen: trigger.good, type: exec, opts: {shell: "exit 3"}}
      - {id: stop, listen: task.deploy.bad, type: end}
  - id: clone
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: checkout, listen: trigger.good, type: git-checkout, opts: {url: "{url}", branch: main}}
"""


@pytest.fixture
def host(floe_host: HostFactory, tmp_path: Path) -> FloeHost:
    return floe_host(CONF.replace("{url}", (tmp_path / "nowhere.git").as_uri()))


@pytest.mark.parametrize(
    ("flow", "reason"),
    [
        ("status", "package failed: exit status 2"),
        ("slow", "wait failed: timed out after 0.5s"),
        ("killed", "victim failed: exit status 137 (SIGKILL)"),
        ("missing", "tool failed: program not found: no-such-program-floe"),
        ("ended", "deploy failed: exit status 3"),
    ],
)
def test_a_failed_runs_reason_names_the_node_and_the_cause(host: FloeHost, flow: str, reason: str) -> None:
    r = host.wait_run(flow, host.trigger(flow))
    assert (r["status"], r["reason"]) == ("bad", reason)
    node = r["nodes"][0]
    assert node["reason"] == reason.partition(" failed: ")[2]


def test_a_git_failure_keeps_gits_message(host: FloeHost, tmp_path: Path) -> None:
    r = host.wait_run("clone", host.trigger("clone"))
    missing = tmp_path / "nowhere.git"
    assert r["status"] == "bad"
    assert (
        r["reason"]
        == f"checkout failed: git clone: fatal: '{missing}' does not appear to be a git repository"
    )
    log = host.node_log("clone", r["run_id"], "checkout")
    assert "Please make sure you have the correct access rights" in log  # git's whole output is kept
    assert log.rstrip().endswith("and the repository exists.")


@pytest.mark.skipif(shutil.which("ssh") is None, reason="no ssh client (apt-get install openssh-client)")
def test_an_unreachable_ssh_remote_says_why(floe_host: HostFactory, tmp_path: Path) -> None:
    url = f"ssh://git@127.0.0.1:{free_port()}/nope.git"  # nothing listens there
    host = floe_host(CONF.replace("{url}", url))
    r = host.wait_run("clone", host.trigger("clone"))
    assert r["status"] == "bad"
    assert r["reason"].startswith("checkout failed: git clone: ssh: connect to host 127.0.0.1 port ")
    assert r["reason"].endswith(": Connection refused")
