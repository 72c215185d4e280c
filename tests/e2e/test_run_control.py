"""Run control through a real host's API: retries, re-runs, the stop switch, admission policies."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import HostFactory
from tests.support.host import FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: flaky
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: try
        listen: trigger.good
        type: exec
        retries: 3
        backoff: 0.1
        opts:
          shell: |
            n=$(cat $FLOEWS/n 2>/dev/null || echo 0); echo $((n+1)) > $FLOEWS/n
            echo "try $((n+1))"; [ $n -ge 2 ]
      - {id: done, listen: task.try.good, type: end}
  - id: chain
    ver: 1
    triggers:
      - id: go
        type: data
        opts: {form: {title: Go, fields: [{id: who, type: string, default: x}]}}
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {shell: 'echo "a for $WHO"', env: ["WHO=a"]}}
      - {id: side, listen: task.a.good, type: exec, opts: {cmd: "echo side"}}
      - {id: b, listen: task.side.good, type: exec, opts: {shell: "echo b; exit 1"}}
      - {id: both, class: merge, type: all, wait: [task.b.good, task.side.good]}
      - {id: done, listen: merge.both.good, type: end}
  - id: guarded
    ver: 1
    triggers:
      - id: go
        type: data
        opts: {form: {title: Go, fields: [{id: branch, type: string, default: main}]}}
    policies:
      - {name: only-main, allow: {branch: [main, "release/*"]}}
      - {name: two-at-once, max-concurrent: 2}
    tasks:
      - id: gate
        listen: trigger.good
        type: data
        opts: {form: {title: Go on, fields: [{id: ok, type: string}]}}
  - id: limited
    ver: 1
    triggers: [{id: go, type: data}]
    policies:
      - {name: three-a-minute, rate: 3/min}
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
"""


@pytest.fixture
def host(floe_host: HostFactory) -> FloeHost:
    return floe_host(CONF)


def test_retries_keep_each_attempt(host: FloeHost) -> None:
    run_id = host.trigger("flaky")
    r = host.wait_run("flaky", run_id)
    node = r["nodes"][0]
    assert r["status"] == "good" and node["attempts"] == 3
    assert [t["attempt"] for t in node["tries"]] == [1, 2]
    assert [t["exit_status"] for t in node["tries"]] == [1, 1]
    log = host.node_log("flaky", run_id, "try")
    assert "try 1" in log and "attempt 2" in log and "try 3" in log


def test_rerun_whole_and_from_a_node(host: FloeHost) -> None:
    first = host.trigger("chain", values={"who": "ann"})
    r1 = host.wait_run("chain", first)
    assert r1["status"] == "bad"
    again = host.post(f"/flows/chain/runs/{first}/rerun")
    assert again.status_code == 202 and again.json()["rerun_of"] == first
    r2 = host.wait_run("chain", again.json()["run_id"])
    assert r2["status"] == "bad" and r2["values"] == {"who": "ann"}
    partial = host.post(f"/flows/chain/runs/{first}/rerun?from=b")
    assert partial.status_code == 202
    r3 = host.wait_run("chain", partial.json()["run_id"])
    nodes = {n["id"]: n for n in r3["nodes"]}
    assert nodes["a"]["started"] == next(n for n in r1["nodes"] if n["id"] == "a")["started"]  # kept
    assert nodes["b"]["started"] > r1["ended"]  # ran again
    assert nodes["both"]["waits"] == ["task.side.good"]  # the kept branch still counts
    bad = host.post(f"/flows/chain/runs/{first}/rerun?from=nope")
    assert bad.status_code == 400 and bad.json()["field"] == "from"


def test_admission_policies_reject_with_the_policy_name(host: FloeHost) -> None:
    r = host.push("guarded", "go", {"branch": "feature/x"})
    assert r.status_code == 403 and r.json()["policy"] == "only-main"
    ids = [host.trigger("guarded", values={"branch": b}) for b in ("main", "release/1")]
    third = host.push("guarded", "go", {"branch": "main"})
    assert third.status_code == 429 and third.json()["policy"] == "two-at-once"
    host.push("guarded", "gate", {"ok": "y"}, run=ids[0])
    host.wait_run("guarded", ids[0])
    assert host.push("guarded", "go", {"branch": "main"}).status_code == 202


def test_a_burst_starts_exactly_the_allowed_number(host: FloeHost) -> None:
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: host.push("limited", "go").status_code, range(10)))
    assert sorted(codes) == [202] * 3 + [429] * 7
    listed = host.get("/flows/limited/runs").json()
    assert len(listed["pending"] + listed["active"] + listed["archive"]) == 3


def test_stop_switch_halts_dispatch_and_go_resumes(host: FloeHost, tmp_path: Path) -> None:
    stop = host.post("/stop", {"reason": "release freeze"})
    assert stop.status_code == 200 and stop.json()["stopped"] == {"*": "release freeze"}
    run_id = host.trigger("chain")
    r = host.run("chain", run_id)
    assert r["status"] == "pending" and r["pending_reason"] == "dispatch stopped: release freeze"
    assert host.get("/stop").json()["stopped"] == {"*": "release freeze"}
    assert host.post("/go", {}).json()["stopped"] == {}
    assert host.wait_run("chain", run_id)["status"] in ("good", "bad")


def test_stop_switch_can_cancel_active_runs_of_one_flow(host: FloeHost) -> None:
    waiting = host.trigger("guarded")
    host.wait_run("guarded", waiting, want={"waiting"})
    out = host.post("/stop", {"flow": "guarded", "reason": "incident", "cancel": True}).json()
    assert out["cancelled"] == [waiting]
    assert host.wait_run("guarded", waiting)["status"] == "cancelled"
    assert host.wait_run("chain", host.trigger("chain"))["status"] in ("good", "bad")  # others run
    assert host.post("/stop", {"flow": "nope"}).status_code == 404


def test_the_stop_file_halts_dispatch_while_it_exists(host: FloeHost) -> None:
    stop_file = host.root / "store" / "STOP"
    stop_file.write_text("disk maintenance\n")
    deadline = time.monotonic() + 10
    while "stop-file" not in host.get("/stop").json()["stopped"]:
        assert time.monotonic() < deadline
        time.sleep(0.05)  # the host checks the file once a second
    run_id = host.trigger("chain")
    assert "disk maintenance" in host.run("chain", run_id)["pending_reason"]
    stop_file.unlink()
    assert host.wait_run("chain", run_id)["status"] in ("good", "bad")


def test_audit_trail_per_run_and_for_the_host(host: FloeHost) -> None:
    run_id = host.trigger("guarded")
    host.wait_run("guarded", run_id, want={"waiting"})
    host.push("guarded", "gate", {"ok": "yes"}, run=run_id)
    host.wait_run("guarded", run_id)
    rerun = host.post(f"/flows/guarded/runs/{run_id}/rerun").json()["run_id"]
    host.post(f"/flows/guarded/runs/{rerun}/cancel")
    host.wait_run("guarded", rerun)
    host.post("/stop", {"reason": "audit me"})
    host.post("/go", {})
    trail = [(e["by"], e["action"], e["run_id"]) for e in host.get("/audit").json()["entries"]]
    assert trail == [
        ("admin", "go", ""),
        ("admin", "stop", ""),
        ("admin", "cancel", rerun),
        ("admin", "rerun", rerun),
        ("admin", "answer", run_id),
        ("admin", "trigger", run_id),
    ]
    per_run = [(e["action"], e["detail"]) for e in host.run("guarded", run_id)["audit"]]
    assert per_run == [("trigger", "go"), ("answer", "gate: ok=yes")]
    assert [e["action"] for e in host.run("guarded", rerun)["audit"]] == ["rerun", "cancel"]
