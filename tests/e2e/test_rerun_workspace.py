"""A partial re-run starts from a copy of the earlier run's workspace, on a real host."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import HostFactory
from tests.support.host import FloeHost, cluster_hosts, start_cluster, stop_all

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: ship
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: build
        listen: trigger.good
        type: exec
        opts: {shell: 'mkdir -p src && echo built > src/app && ln -s app src/link && echo "built once"'}
      - id: package
        listen: task.build.good
        type: exec
        opts:
          shell: |
            set -e
            tar -czf app.tgz src
            tar -tzf app.tgz
            n=$(cat {root}/tries 2>/dev/null || echo 0); echo $((n+1)) > {root}/tries; [ $n -ge 1 ]
      - {id: done, listen: task.package.good, type: end}
  - id: shared
    ver: 1
    reuse-space: true
    triggers: [{id: go, type: data}]
    tasks:
      - {id: make, listen: trigger.good, type: exec, opts: {shell: 'echo made > made'}}
      - id: use
        listen: task.make.good
        type: exec
        opts: {shell: 'cat made && test -e {root}/again || { touch {root}/again; exit 1; }'}
"""


@pytest.fixture
def host(floe_host: HostFactory) -> FloeHost:
    return floe_host(CONF)


def spaces(host: FloeHost) -> Path:
    return host.root / "ws" / "spaces" / "ship" / "ws"


def test_a_rerun_from_the_last_step_finds_what_the_build_made(host: FloeHost) -> None:
    first = host.trigger("ship")
    r1 = host.wait_run("ship", first)
    assert r1["status"] == "bad" and r1.get("workspace_from", "") == ""  # package flaked once
    again = host.post(f"/flows/ship/runs/{first}/rerun?from=package")
    assert again.status_code == 202, again.text
    r2 = host.wait_run("ship", again.json()["run_id"])
    assert r2["status"] == "good", r2["reason"]  # before: tar: src: Cannot stat
    assert r2["workspace_from"] == first
    assert "src/app" in host.node_log("ship", r2["run_id"], "package")
    assert "built once" not in host.node_log("ship", r2["run_id"], "build")  # kept, not run
    copy = spaces(host) / r2["run_id"]
    assert (copy / "src" / "link").is_symlink()  # symlinks stay links
    assert (spaces(host) / first / "src" / "app").read_text() == "built\n"  # the earlier one stays
    whole = host.post(f"/flows/ship/runs/{first}/rerun").json()["run_id"]
    assert host.wait_run("ship", whole)["workspace_from"] == ""  # a whole re-run starts empty


def test_a_rerun_whose_earlier_workspace_is_gone_says_so(host: FloeHost) -> None:
    first = host.trigger("ship")
    host.wait_run("ship", first)
    shutil.rmtree(spaces(host) / first)
    again = host.post(f"/flows/ship/runs/{first}/rerun?from=package").json()["run_id"]
    r2 = host.wait_run("ship", again)
    assert r2["status"] == "bad"
    assert f"the workspace of {first} is gone" in r2["reason"], r2["reason"]
    package = next(n for n in r2["nodes"] if n["id"] == "package")
    assert f"the workspace of {first} is gone" in package["reason"]
    assert host.node_log("ship", again, "package") == ""  # it never ran on an empty workspace


def test_a_reuse_space_rerun_keeps_the_one_workspace_as_it_is(host: FloeHost) -> None:
    first = host.trigger("shared")
    assert host.wait_run("shared", first)["status"] == "bad"
    again = host.post(f"/flows/shared/runs/{first}/rerun?from=use").json()["run_id"]
    assert host.wait_run("shared", again)["status"] == "good"  # `made` was neither wiped nor copied
    assert "made" in host.node_log("shared", again, "use")


CLUSTER = (
    CONF.replace("common:\n", "common:\n  hosts: [{hosts}]\n")
    + """
  - id: hold
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: wait, listen: trigger.good, type: data, opts: {form: {fields: [{id: ok}]}}}
"""
)


def test_a_partial_rerun_stays_on_the_host_that_has_the_workspace(tmp_path: Path) -> None:
    hosts = cluster_hosts(tmp_path, CLUSTER, ["linux", "linux"])
    h1 = hosts[0]
    try:
        start_cluster(hosts)
        first = h1.trigger("ship")
        assert h1.wait_run("ship", first)["exec_host"] == "h1"
        busy = h1.trigger("hold")  # h1 is now the busier host: a new run would go to h2
        h1.wait_run("hold", busy, ("waiting",))
        again = h1.post(f"/flows/ship/runs/{first}/rerun?from=package").json()["run_id"]
        r2 = h1.wait_run("ship", again)
        assert (r2["status"], r2["exec_host"]) == ("good", "h1"), r2["reason"]
    finally:
        stop_all(hosts)


def test_the_demos_package_step_reruns_alone(floe_host: HostFactory) -> None:
    demo = floe_host((Path(__file__).resolve().parents[2] / "floe" / "default.yml").read_text())
    first = demo.trigger("build", "start", {"fast": True})
    demo.wait_run("build", first, want={"waiting"})
    assert demo.push("build", "sign-off", {"approver": "ada"}, run=first).status_code == 200
    assert demo.wait_run("build", first)["status"] == "good"
    again = demo.post(f"/flows/build/runs/{first}/rerun?from=package").json()["run_id"]
    r2 = demo.wait_run("build", again)
    assert r2["status"] == "good", r2["reason"]
    package = demo.node_log("build", again, "package")
    assert "Cannot stat" not in package and "signed off by ada" in package  # before: tar: src: Cannot stat
    assert demo.node_log("build", again, "compile") == ""  # the build was not repeated
