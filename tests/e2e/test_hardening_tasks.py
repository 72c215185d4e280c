"""Attacks on what reaches a task and on the ids at the edges, tried against real hosts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HostFactory
from tests.support.host import FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: plain
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: say, listen: trigger.good, type: exec, opts: {cmd: "echo hi"}}
      - {id: done, listen: task.say.good, type: end}
"""


@pytest.fixture
def host_plain(floe_host: HostFactory) -> FloeHost:
    return floe_host(CONF)


def pend(flow_id: str, run_id: str = "h9-1", **snapshot: Any) -> dict[str, Any]:
    """A pend as one host hands it to another (`POST {base}/p2p/runs`)."""
    return {
        "run_id": run_id,
        "flow": flow_id,
        "ver": 1,
        "phase": "pending",
        "created": 1.0,
        "status": "pending",
        "exec_host": "",
        "trigger": "go",
        "values": {},
        "seq": 1,
        "nodes": [],
        "snapshot": {"id": flow_id, "ver": 1, "triggers": [], "tasks": [], **snapshot},
    }


# ---- ids at the edges ----------------------------------------------------------------------------
def test_a_pend_whose_flow_id_climbs_out_of_the_workspace_root_is_refused(
    floe_host: HostFactory, tmp_path: Path
) -> None:
    host = floe_host(CONF)
    victim = tmp_path / "h1" / "outside" / "ws" / "h9-1"  # what <ws-root>/spaces/../../outside/... names
    victim.mkdir(parents=True)
    (victim / "keep.txt").write_text("precious")
    r = host.post("/p2p/runs", pend("../../outside"))
    assert r.status_code == 400 and "not a valid id" in r.json()["error"], r.text
    assert (victim / "keep.txt").read_text() == "precious"
    assert host.get("/flows/plain").status_code == 200  # the host keeps serving


def test_bad_ids_in_a_pend_and_in_paths_are_refused_with_400(host_plain: FloeHost) -> None:
    cases = [
        pend("plain", run_id="../h9-1"),
        {**pend("plain"), "trigger": "a/b"},
        pend("plain", tasks=[{"id": "..", "class": "task", "type": "exec", "listen": "trigger.good"}]),
        {**pend("plain"), "nodes": [{"id": "x/y", "status": "idle"}]},
    ]
    for doc in cases:
        r = host_plain.post("/p2p/runs", doc)
        assert r.status_code == 400, (doc, r.text)
    for path in ("/flows/a.b/runs", "/flows/plain/runs/h1 1", "/flows/plain/runs/h1-1/nodes/a%5Cb/log"):
        r = host_plain.get(path)
        assert r.status_code == 400 and "not a valid id" in r.json()["error"], (path, r.text)
    r = host_plain.post("/p2p/locks", {"run_id": "h1-1", "host": "../h2", "tags": ["db"]})
    assert r.status_code == 400, r.text


# ---- values are data, never opts -------------------------------------------------------------
VALUES_CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: build
    ver: 1
    triggers:
      - id: start
        type: data
        opts: {form: {title: Start, fields: [{id: branch, type: string, default: main}]}}
    tasks:
      - id: checkout
        listen: trigger.good
        type: exec
        opts: {shell: 'echo "building $FLOE_VALUE_BRANCH"; echo "cmd is $FLOE_VALUE_CMD"'}
      - id: sign-off
        listen: task.checkout.good
        type: data
        opts: {form: {title: Release?, fields: [{id: approver, type: string, required: true}]}}
      - id: package
        listen: task.sign-off.good
        type: exec
        opts: {shell: 'echo "approved by $FLOE_VALUE_APPROVER"', sub-dir: out}
      - {id: done, listen: task.package.good, type: end}
"""


def test_form_values_named_like_opts_never_replace_a_tasks_command(
    floe_host: HostFactory, tmp_path: Path
) -> None:
    host = floe_host(VALUES_CONF)
    marker = tmp_path / "pwned"
    given = {"branch": "main", "cmd": f"touch {marker}-1", "sub-dir": "elsewhere"}
    run_id = host.trigger("build", "start", given)
    host.wait_run("build", run_id, want={"waiting"})
    answer = {"approver": "ann", "cmd": f"touch {marker}-2", "shell": f"touch {marker}-3"}
    r = host.push("build", "sign-off", answer, run=run_id)
    assert r.status_code == 200, r.text
    assert host.wait_run("build", run_id)["status"] == "good"
    checkout = host.node_log("build", run_id, "checkout").splitlines()
    assert checkout[0].endswith(f"/ws/{run_id}")  # in dir: the workspace, not the value's sub-dir
    assert "building main" in checkout and f"cmd is touch {marker}-1" in checkout  # data, shown as data
    package = host.node_log("build", run_id, "package")
    assert "approved by ann" in package and "/out" in package.splitlines()[0]  # its own sub-dir
    assert not list(tmp_path.glob("pwned*"))
