"""Three real hosts on loopback ports: tag routing, resource tags across hosts, forwarding, failures."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.host import FloeHost, cluster_hosts, start_cluster, stop_all, wait_for
from tests.support.inprocess import InProcessHost

CONF = """
common:
  hosts: [{hosts}]
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: special
    ver: 1
    host-tags: [special]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: where, listen: trigger.good, type: exec, opts: {shell: "echo ran in $FLOEWS"}}
  - id: gate
    ver: 1
    host-tags: [special]
    triggers: [{id: go, type: data}]
    tasks:
      - id: ok
        listen: trigger.good
        type: data
        opts: {form: {title: Approve, fields: [{id: approver, type: string}]}}
      - {id: done, listen: task.ok.good, type: end}
  - id: slow
    ver: 1
    host-tags: [special]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: nap, listen: trigger.good, type: exec, opts: {shell: "echo napping $$; exec sleep 300"}}
  - id: locked
    ver: 1
    resource-tags: [db]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: hold, listen: trigger.good, type: data, opts: {form: {title: Release, fields: [{id: go}]}}}
      - {id: done, listen: task.hold.good, type: end}
"""


class Trio:
    def __init__(self, root: Path, kind: type[FloeHost]) -> None:
        self.hosts = cluster_hosts(root, CONF, ["linux", "linux,special", "linux"], kind)

    def start(self) -> Trio:
        start_cluster(self.hosts)
        return self


def _trio(root: Path, kind: type[FloeHost]) -> Iterator[Trio]:
    t = Trio(root, kind)
    try:
        yield t.start()
    finally:
        stop_all(t.hosts)


@pytest.fixture
def trio(tmp_path: Path) -> Iterator[Trio]:
    """Three hosts in this process."""
    yield from _trio(tmp_path, InProcessHost)


@pytest.fixture
def trio_processes(tmp_path: Path) -> Iterator[Trio]:
    """Three host processes, for tests that kill -9 or SIGSTOP one."""
    yield from _trio(tmp_path, FloeHost)


def test_tag_routing_runs_on_the_only_host_with_the_tag(trio: Trio) -> None:
    h1, h2, h3 = trio.hosts
    run_id = h1.trigger("special")
    assert run_id.startswith("h1-")
    r = h2.wait_run("special", run_id)  # it executes on h2: follow its events there
    assert r["status"] == "good" and r["exec_host"] == "h2"
    assert h1.run("special", run_id)["exec_host"] == "h2"  # any host answers for the cluster
    assert "/h2/ws/spaces/special/ws/" + run_id in h3.node_log("special", run_id, "where")
    for h in trio.hosts:
        archive = h.get("/flows/special/runs").json()["archive"]
        assert [a["run_id"] for a in archive] == [run_id]


def test_data_reaches_the_executing_host_from_any_host(trio: Trio) -> None:
    h1, h2, h3 = trio.hosts
    run_id = h3.trigger("gate")
    h2.wait_run("gate", run_id, want={"waiting"})
    bad = h1.push("gate", "ok", {"approver": ""}, run=run_id)
    assert bad.status_code == 200  # an empty answer keeps the gate waiting
    assert h1.run("gate", run_id)["status"] == "waiting"
    assert h1.push("gate", "ok", {"approver": "ann"}, run=run_id).status_code == 200
    assert h2.wait_run("gate", run_id)["status"] == "good"


def test_resource_tags_serialise_runs_across_hosts(trio: Trio) -> None:
    h1, h2, h3 = trio.hosts
    first = h1.trigger("locked")
    h1.wait_run("locked", first, want={"waiting"})
    second = h3.trigger("locked")
    wait_for(lambda: h3.run("locked", second)["pending_reason"] == f"resource db held by run {first}")
    assert h3.run("locked", second)["status"] == "pending"
    assert h2.push("locked", "hold", {"go": "yes"}, run=first).status_code == 200
    assert h1.wait_run("locked", first)["status"] == "good"
    r = h3.wait_run("locked", second, want={"waiting"})  # started the moment the tag was free
    assert r["status"] == "waiting"
    h3.push("locked", "hold", {"go": "yes"}, run=second)
    assert h3.wait_run("locked", second)["status"] == "good"


def test_cancel_from_another_host_following_its_events_there(trio: Trio) -> None:
    h1, _, h3 = trio.hosts
    run_id = h1.trigger("slow")
    h3.wait_line(run_id, "nap", lambda line: line.startswith("napping"))  # h3 relays h2's stream
    assert h1.post(f"/flows/slow/runs/{run_id}/cancel").status_code == 202
    assert h3.wait_run("slow", run_id)["status"] == "cancelled"


def test_kill_9_of_the_executing_host_then_restart(trio_processes: Trio) -> None:
    trio = trio_processes
    h1, h2, _ = trio.hosts
    run_id = h1.trigger("slow")
    pid = int(h2.wait_line(run_id, "nap", lambda line: line.startswith("napping")).split()[1])
    h2.kill9()
    os.kill(pid, signal.SIGKILL)  # its task, orphaned by the host's death
    wait_for(lambda: not next(x for x in h1.get("/hosts").json()["hosts"] if x["id"] == "h2")["online"])
    listed = h1.get("/flows/slow/runs").json()
    assert [(a["run_id"], a["reason"]) for a in listed["active"]] == [(run_id, "exec host h2 unreachable")]
    assert "h2" in listed["partial"]
    assert h1.run("slow", run_id)["reason"] == "exec host h2 unreachable"
    h2.start()
    wait_for(lambda: next(x for x in h1.get("/hosts").json()["hosts"] if x["id"] == "h2")["online"])
    r = h1.run("slow", run_id)
    assert r["status"] == "bad" and r["reason"] == "host restarted while nap was running"


def test_a_pend_waits_for_a_dead_host_and_survives_its_adopter_being_killed(trio_processes: Trio) -> None:
    trio = trio_processes
    h1, h2, _ = trio.hosts
    h2.stop()
    wait_for(lambda: not next(x for x in h1.get("/hosts").json()["hosts"] if x["id"] == "h2")["online"])
    run_id = h1.trigger("special")
    r = h1.run("special", run_id)
    assert r["status"] == "pending" and r["pending_reason"] == "host h2 unreachable"
    h1.kill9()
    h1.start()
    assert h1.run("special", run_id)["status"] == "pending"
    h2.start()
    assert h2.wait_run("special", run_id)["status"] == "good"


def test_the_cluster_run_list_answers_with_a_hung_host(trio_processes: Trio) -> None:
    trio = trio_processes
    h1, _, h3 = trio.hosts
    done = h1.trigger("locked")
    h1.push("locked", "hold", {"go": "x"}, run=done)
    h1.wait_run("locked", done)
    assert h3.proc is not None
    os.kill(h3.proc.pid, signal.SIGSTOP)
    t = time.monotonic()
    listed = h1.get("/flows/locked/runs").json()
    assert time.monotonic() - t < 5.0
    assert [a["run_id"] for a in listed["archive"]] == [done]
    assert "h3" in listed["partial"]
    os.kill(h3.proc.pid, signal.SIGCONT)


def test_a_host_with_another_token_is_refused(tmp_path: Path, trio: Trio) -> None:
    h1 = trio.hosts[0]
    conf = f"common: {{hosts: [{h1.url}], workspace-root: {{root}}/ws}}\nflows: []\n"
    rogue = InProcessHost(tmp_path / "rogue", conf, name="h9", token="not-the-token")
    try:
        rogue.start()
        wait_for(lambda: "refused our admin token" in rogue.log())
        hosts = rogue.get("/hosts", headers={"X-Floe-Auth": "not-the-token"}).json()["hosts"]
        assert [(x["id"], x["online"]) for x in hosts] == [("h9", True), ("", False)]
    finally:
        rogue.stop()
        rogue.http.close()


def test_the_stop_switch_reaches_every_host_and_names_who_threw_it(trio: Trio) -> None:
    h1, h2, h3 = trio.hosts
    out = h1.post("/stop", {"reason": "freeze", "by": "someone else"}).json()
    assert out["hosts"] == ["h1", "h2", "h3"] and out["unreachable"] == []
    for h in (h2, h3):
        assert h.get("/stop").json()["stopped"] == {"*": "freeze"}
        own = [e for e in h.get("/audit").json()["entries"] if e["host"] == h.name]  # its own trail
        assert [(e["by"], e["action"]) for e in own] == [("admin", "stop")]
    assert h1.post("/go", {}).json()["hosts"] == ["h1", "h2", "h3"]
    assert h3.get("/stop").json()["stopped"] == {}
