"""`GET {base}/runs`: the runs of every flow, newest first, paged, across the cluster, each with who
triggered it and its branch and commit; `GET {base}/audit` filtered by flow and user."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from floe.server.passwords import hash_password
from tests.support.gitrepo import Repo
from tests.support.host import FloeHost, cluster_hosts, start_cluster, stop_all

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  users:
    - {name: otto, role: operator, password: "OTTO"}
flows:
  - id: one
    ver: 1
    triggers:
      - {id: go, type: data, opts: {form: {fields: [{id: branch, type: string}, {id: commit, type: string}]}}}
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {shell: 'echo one'}}
  - id: two
    ver: 1
    triggers:
      - {id: go, type: data, opts: {form: {fields: [{id: ref, type: string}, {id: hash, type: string}]}}}
    tasks:
      - {id: b, listen: trigger.good, type: exec, opts: {shell: 'echo two'}}
"""


def everything(host: FloeHost, limit: int) -> list[dict[str, Any]]:
    """Every archived run, page by page, checking each page's order and size."""
    got: list[dict[str, Any]] = []
    before = None
    while True:
        page = host.get("/runs", params={"limit": limit, **({"before": before} if before else {})}).json()
        created = [r["created"] for r in page["archive"]]
        assert created == sorted(created, reverse=True) and len(created) <= limit
        got += page["archive"]
        before = page["next_before"]
        if before is None:
            return got


def test_runs_of_every_flow_newest_first_paged(floe_host: Callable[..., FloeHost]) -> None:
    host = floe_host(CONFIG.replace('"OTTO"', f'"{hash_password("otto-pw")}"'))
    runs = []
    for i in range(5):
        flow, values = (
            ("one", {"branch": f"b{i}", "commit": f"c{i}"})
            if i % 2
            else ("two", {"ref": f"r{i}", "hash": f"h{i}"})
        )
        runs.append((flow, host.trigger(flow, "go", values)))
    for flow, run_id in runs:
        host.wait_run(flow, run_id)
    listed = everything(host, 2)
    assert [r["run_id"] for r in listed] == [run_id for _, run_id in reversed(runs)]
    for i, r in enumerate(reversed(listed)):
        assert r["by"] == "admin" and r["status"] == "good" and r["flow"] == runs[i][0]
        assert (r["branch"], r["commit"]) == ((f"b{i}", f"c{i}") if i % 2 else (f"r{i}", f"h{i}"))
    assert everything(host, 5) == listed  # a full page, then an empty one
    first = host.get("/runs?limit=2").json()
    assert first["pending"] == first["active"] == [] and first["partial"] == []
    assert host.get("/runs?limit=0").status_code == 400
    assert host.get("/runs?before=soon").json()["field"] == "before"
    with_otto = host.http.post("/build/api/login", json={"user": "otto", "password": "otto-pw"})
    assert with_otto.status_code == 200
    assert host.get("/audit?user=otto").json()["entries"][0]["action"] == "login"
    host.http.cookies.clear()
    assert {e["flow"] for e in host.get("/audit?flow=one").json()["entries"]} == {"one"}
    assert len(host.get("/audit?flow=two&user=admin").json()["entries"]) == 3
    assert host.get("/audit?user=nobody").json()["entries"] == []


GIT = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: co
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: checkout, listen: trigger.good, type: git-checkout, opts: {url: "URL", branch: main}}
"""


def test_a_git_checkout_gives_the_run_its_commit(floe_host: Callable[..., FloeHost], tmp_path: Path) -> None:
    repo = Repo(tmp_path / "git")
    head = repo.commit({"a.txt": "one\n"})
    host = floe_host(GIT.replace("URL", repo.url))
    run_id = host.trigger("co")
    assert host.wait_run("co", run_id)["status"] == "good"
    (listed,) = host.get("/runs").json()["archive"]
    assert (listed["run_id"], listed["commit"], listed["branch"]) == (run_id, head, "")


CLUSTER = """
common:
  hosts: [{hosts}]
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: there
    ver: 1
    host-tags: [special]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {shell: 'echo there'}}
  - id: here
    ver: 1
    host-tags: [plain]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: b, listen: trigger.good, type: exec, opts: {shell: 'echo here'}}
"""


def test_runs_of_every_flow_across_the_cluster(tmp_path: Path) -> None:
    hosts = cluster_hosts(tmp_path, CLUSTER, ["plain", "special"])
    try:
        start_cluster(hosts)
        h1, h2 = hosts
        there = h1.trigger("there")
        assert h2.wait_run("there", there)["exec_host"] == "h2"
        here = h1.trigger("here")
        assert h1.wait_run("here", here)["exec_host"] == "h1"
        for h in hosts:
            got = h.get("/runs").json()
            assert [(r["run_id"], r["exec_host"]) for r in got["archive"]] == [(here, "h1"), (there, "h2")]
            assert got["partial"] == []
    finally:
        stop_all(hosts)
