"""Two real `floe` host processes on one PostgreSQL database: runs placed by claims (host-tags,
resource tags that never overlap across hosts), `kill -9` of the executing host resolved by the
other one, and run lists answered from the database."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import HostFactory
from tests.support.host import FloeHost, wait_for
from tests.support.postgres import HOST_CONF, rows

CONF = (
    HOST_CONF
    + """\
  - id: special
    ver: 1
    host-tags: [special]
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: where, listen: trigger.good, type: exec, opts: {{shell: 'echo ran in $PWD'}}}}
      - {{id: done, listen: task.where.good, type: end}}
  - id: locked
    ver: 1
    host-tags: [plain]
    resource-tags: [db]
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: hold
        listen: trigger.good
        type: exec
        opts: {{shell: 'sh {shared}/mark.sh'}}
      - {{id: done, listen: task.hold.good, type: end}}
  - id: locked2
    ver: 1
    host-tags: [special]
    resource-tags: [db]
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: hold
        listen: trigger.good
        type: exec
        opts: {{shell: 'sh {shared}/mark.sh'}}
      - {{id: done, listen: task.hold.good, type: end}}
  - id: slow
    ver: 1
    host-tags: [special]
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: hold
        listen: trigger.good
        type: exec
        opts: {{shell: 'echo holding; while [ ! -e {shared}/release ]; do sleep 0.05; done'}}
      - {{id: done, listen: task.hold.good, type: end}}
  - id: asked
    ver: 1
    host-tags: [special]
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: gate, listen: trigger.good, type: data, opts: {{form: {{fields: [{{id: ok, type: string}}]}}}}}}
      - {{id: after, listen: task.gate.good, type: exec, opts: {{shell: 'echo answered in $PWD'}}}}
      - {{id: done, listen: task.after.good, type: end}}
  - id: orphan
    ver: 1
    host-tags: [special]
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: hold, listen: trigger.good, type: exec, opts: {{shell: 'echo holding; exec sleep 120'}}}}
"""
)


def two_hosts(tmp_path: Path, url: str, floe_host: HostFactory) -> tuple[FloeHost, FloeHost]:
    shared = tmp_path / "shared"
    shared.mkdir()
    marks = shared / "times"  # each run's task notes its start and end, by its own clock
    (shared / "mark.sh").write_text(f'echo "$(date +%s.%N) start" >> {marks}; sleep 0.3\n'
                                    f'echo "$(date +%s.%N) end" >> {marks}\n')  # fmt: skip
    conf = CONF.format(root="{root}", url=url, shared=shared)
    h1 = floe_host(conf, name="h1", tags="linux,plain", process=True)
    h2 = floe_host(conf, name="h2", tags="linux,special", process=True)
    wait_for(lambda: len(rows(url, "SELECT 1 FROM hosts WHERE lease_until > now()")) == 2, what="both leases")
    return h1, h2


def status(host: FloeHost, flow: str, run_id: str) -> str:
    return str(host.run(flow, run_id)["status"])


def test_a_run_triggered_on_h1_that_only_h2_fits_runs_on_h2(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    h1, h2 = two_hosts(tmp_path, pg_url, floe_host)
    rid = h1.trigger("special")
    assert rid.startswith("h1-")
    ended = h2.wait_run("special", rid)
    assert ended["status"] == "good" and ended["exec_host"] == "h2", ended
    assert h2.node_log("special", rid, "where").endswith(f"ran in {tmp_path}/h2/ws/spaces/special/ws/{rid}\n")
    # h1 reads it from the database, where h2 writes it behind
    wait_for(lambda: status(h1, "special", rid) == "good", what="h2's run good on h1")
    assert rows(pg_url, "SELECT count(*) FROM pends") == [(0,)]


def test_runs_sharing_a_resource_tag_on_two_hosts_never_overlap(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    h1, h2 = two_hosts(tmp_path, pg_url, floe_host)
    runs = [(flow, h.trigger(flow)) for _ in range(3) for h in (h1, h2) for flow in ("locked", "locked2")]
    for flow, rid in runs:
        wait_for(lambda f=flow, r=rid: status(h1, f, r) == "good", timeout=90, what=f"{rid} good")
    hosts = {
        flow: {h1.run(flow, rid)["exec_host"] for f, rid in runs if f == flow}
        for flow in ("locked", "locked2")
    }
    assert hosts == {"locked": {"h1"}, "locked2": {"h2"}}, hosts  # one flow only h1 fits, one only h2
    marks = [line.split() for line in (tmp_path / "shared" / "times").read_text().splitlines()]
    assert [kind for _, kind in marks] == ["start", "end"] * len(runs)  # one at a time, in order
    times = [float(t) for t, _ in marks]
    assert times == sorted(times)
    assert rows(pg_url, "SELECT count(*) FROM reservations") == [(0,)]


@pytest.mark.timeout(120)
def test_kill_9_of_the_executing_host_is_resolved_by_the_other_within_the_lease(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    h1, h2 = two_hosts(tmp_path, pg_url, floe_host)
    rid = h1.trigger("slow")
    h2.wait_line(rid, "hold", lambda line: line == "holding")
    h2.kill9()
    try:
        wait_for(lambda: status(h1, "slow", rid) == "bad", timeout=40, what="h1 to resolve h2's run")
        ended = h1.run("slow", rid)
        assert "host h2 lost while hold was running" in str(ended), ended
        assert rows(pg_url, "SELECT host_id FROM hosts") == [("h1",)]
        listed = h1.get("/flows/slow/runs").json()  # h2 is down: h1 answers from the database
        assert [r["run_id"] for r in listed["archive"]] == [rid] and listed["partial"] == [], listed
        ends = rows(pg_url, f"SELECT count(*) FROM events WHERE run_id = '{rid}' AND tag = 'sys.end.all'")
        assert ends == [(1,)]  # ended once
    finally:
        (tmp_path / "shared" / "release").touch()


@pytest.mark.timeout(150)
def test_a_gate_of_a_lost_host_is_answered_on_the_survivor_and_the_lost_host_comes_back(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    """`kill -9` of h2 while one run waits on its gate and another one's task runs: h1 takes the
    gate over (answered on h1, the rest runs on h1) and ends the other; h2, started again after
    its lease expired, is not refused and kills the task process its run left."""
    h1, h2 = two_hosts(tmp_path, pg_url, floe_host)
    asked = h1.trigger("asked")
    orphan = h1.trigger("orphan")
    h2.wait_line(orphan, "hold", lambda line: line == "holding")
    wait_for(lambda: status(h2, "asked", asked) == "waiting", what="the gate waiting on h2")
    h2.kill9()
    wait_for(lambda: status(h1, "orphan", orphan) == "bad", timeout=40, what="h1 to take h2 over")
    assert "host h2 lost while hold was running" in str(h1.run("orphan", orphan))
    assert h1.run("asked", asked)["exec_host"] == "h1"
    r = h1.push("asked", "gate", {"ok": "yes"}, run=asked)
    assert r.status_code == 200, r.text
    ended = h1.wait_run("asked", asked)
    assert ended["status"] == "good", ended
    assert h1.node_log("asked", asked, "after").endswith(
        f"answered in {tmp_path}/h1/ws/spaces/asked/ws/{asked}\n"
    )
    ws = tmp_path / "h2" / "ws" / "spaces" / "orphan" / "ws" / orphan
    left = [p for p in Path("/proc").glob("[0-9]*") if _runs(p, orphan, ws)]
    assert left, "the orphaned task process of h2's run runs on before h2 comes back"
    h2.start()
    wait_for(lambda: not [p for p in left if _runs(p, orphan, ws)], what="h2 to kill its leftover process")
    assert "resolved while this host was away" in h2.log()
    assert sorted(rows(pg_url, "SELECT host_id FROM hosts")) == [("h1",), ("h2",)]


def _runs(proc: Path, run_id: str, ws: Path) -> bool:
    """Whether process `proc` (a /proc entry) is a live task process of run `run_id` in workspace
    `ws` (a killed
    one whose parent is gone may stay a zombie until it is reaped)."""
    try:
        env = (proc / "environ").read_bytes().split(b"\0")
        state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return f"FLOE_RUN_ID={run_id}".encode() in env and f"FLOEWS={ws}".encode() in env and state != "Z"


def test_max_runs_holds_a_pend_with_its_reason_until_the_host_has_room(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    conf = CONF.format(root="{root}", url=pg_url, shared=shared)
    h1 = floe_host(conf, name="h1", tags="linux", process=True)
    h2 = floe_host(conf, name="h2", tags="linux,special", process=True, extra=["-max_runs=1"])
    assert rows(pg_url, "SELECT max_runs FROM hosts WHERE host_id = 'h2'") == [(1,)]
    first = h1.trigger("slow")
    h2.wait_line(first, "hold", lambda line: line == "holding")
    second = h1.trigger("slow")
    want = "every host that fits is at its max-runs"
    wait_for(lambda: h1.run("slow", second)["pending_reason"] == want, what="the second pend's reason")
    assert status(h1, "slow", second) == "pending"
    (shared / "release").touch()
    for rid in (first, second):
        ended = h2.wait_run("slow", rid)
        assert ended["status"] == "good" and ended["exec_host"] == "h2", ended
    # read from the database, where h2 writes the events behind
    wait_for(lambda: h1.node_log("slow", second, "hold").endswith("holding\n"), what="h2's log on h1")
