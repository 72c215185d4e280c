"""Faults in a cluster of real `floe` host processes on one PostgreSQL database: a host hung
(SIGSTOP) while its run runs, then resumed; `kill -9` of the host that claimed a pend, before and
after its first task started. Every task appends `start RUN` to one ledger, so a run that ran
twice shows."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import HostFactory
from tests.support import stream
from tests.support.host import FloeHost, wait_for
from tests.support.postgres import LEASE, ends_stored

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  store-type: postgres
  store-url: {url}
  lease: {lease}
flows:
  - id: held
    ver: 1
    host-tags: [special]
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: hold
        listen: trigger.good
        type: exec
        opts: {{shell: 'echo "start $FLOE_RUN_ID" >> {shared}/ledger; echo holding; exec sleep 120'}}
  - id: pair
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: mark
        listen: trigger.good
        type: exec
        opts: {{shell: 'echo "start $FLOE_RUN_ID" >> {shared}/ledger; echo marked; {wait}'}}
      - {{id: done, listen: task.mark.good, type: end}}
  - id: flaky
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: try
        listen: trigger.good
        type: exec
        retries: 1
        opts:
          shell: 'echo "start $FLOE_RUN_ID" >> {shared}/ledger; echo trying;
            case $PWD in */h2/*) exec sleep 120;; esac'

      - {{id: done, listen: task.try.good, type: end}}
  - id: busy
    ver: 1
    host-tags: [plain]
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: wait
        listen: trigger.good
        type: exec
        opts: {{shell: 'echo waiting; {wait}'}}
      - {{id: done, listen: task.wait.good, type: end}}
  - id: quick
    ver: 1
    host-tags: [plain]
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: say, listen: trigger.good, type: exec, opts: {{shell: 'echo quick'}}}}
      - {{id: done, listen: task.say.good, type: end}}
"""
BOUND = 5.0  # seconds any answer of a live host may take while another host is hung (measured here)


def rows(url: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as db:
        return db.execute(sql.encode(), args).fetchall()


def hosts_of(tmp_path: Path, url: str, floe_host: HostFactory) -> tuple[FloeHost, FloeHost, Path]:
    shared = tmp_path / "shared"
    shared.mkdir()
    wait = f"while [ ! -e {shared}/release ]; do sleep 0.05; done"
    conf = CONF.format(root="{root}", url=url, shared=shared, wait=wait, lease=LEASE)
    h1 = floe_host(conf, name="h1", tags="linux,plain", process=True)
    h2 = floe_host(conf, name="h2", tags="linux,special", process=True)
    wait_for(lambda: len(rows(url, "SELECT 1 FROM hosts WHERE lease_until > now()")) == 2, what="both leases")
    return h1, h2, shared


def starts(shared: Path) -> Counter[str]:
    """How many times each run's task started, as the tasks themselves noted it."""
    ledger = shared / "ledger"
    return (
        Counter(line.split()[1] for line in ledger.read_text().splitlines()) if ledger.exists() else Counter()
    )


def status(host: FloeHost, flow: str, run_id: str) -> str:
    return str(host.run(flow, run_id)["status"])


def task_pids(run_id: str, ws: Path) -> list[int]:
    """The live task processes of run `run_id` in workspace `ws` (found by their environment)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            env = (proc / "environ").read_bytes().split(b"\0")
            state = (proc / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if f"FLOE_RUN_ID={run_id}".encode() in env and f"FLOEWS={ws}".encode() in env and state != "Z":
            found.append(int(proc.name))
    return found


def timed(what: str, call: Callable[[], object], took: dict[str, float]) -> Any:
    t = time.monotonic()
    out = call()
    took[what] = time.monotonic() - t
    assert took[what] < BOUND, f"{what} took {took[what]:.1f}s while h2 was hung"
    return out


@pytest.fixture
def resumed() -> Iterator[list[FloeHost]]:
    """Hosts a test SIGSTOPs: resumed at the end whatever happened, so they can be stopped."""
    hung: list[FloeHost] = []
    yield hung
    for h in hung:
        if h.proc is not None and h.proc.poll() is None:
            os.kill(h.proc.pid, signal.SIGCONT)


@pytest.mark.timeout(120)
def test_a_hung_host_holds_up_no_answer_and_finds_its_run_resolved_when_it_resumes(
    tmp_path: Path, pg_url: str, floe_host: HostFactory, resumed: list[FloeHost]
) -> None:
    """SIGSTOP of h2 while its run's task runs: every answer of h1 stays prompt (lists, the hung
    host's run, a new run, a websocket follow, /hosts, /healthz); once h2's lease has expired h1
    ends its run; SIGCONT: h2 finds the run resolved, kills the task it left and writes nothing
    over the resolution; no task ran twice, and h2 runs new runs again."""
    h1, h2, shared = hosts_of(tmp_path, pg_url, floe_host)
    rid = h1.trigger("held")
    h2.wait_line(rid, "hold", lambda line: line == "holding")
    ws = tmp_path / "h2" / "ws" / "spaces" / "held" / "ws" / rid
    assert task_pids(rid, ws), "the task runs on h2"
    assert h2.proc is not None
    resumed.append(h2)
    os.kill(h2.proc.pid, signal.SIGSTOP)  # the host process alone: its task goes on
    took: dict[str, float] = {}
    timed("/healthz", lambda: h1.http.get("/healthz").raise_for_status(), took)
    listed = timed("run list", lambda: h1.get("/flows/held/runs").json(), took)
    assert [r["run_id"] for r in listed["active"]] == [rid] and listed["partial"] == [], listed
    assert timed("run detail", lambda: h1.run("held", rid), took)["exec_host"] == "h2"
    timed("node log", lambda: h1.node_log("held", rid, "hold"), took)
    assert {x["id"] for x in timed("/hosts", lambda: h1.get("/hosts").json()["hosts"], took)} >= {"h1"}

    def follow() -> dict[str, Any]:
        with stream.events(h1, run=rid) as conn:
            return stream.recv(conn, time.monotonic() + BOUND)

    assert timed("websocket follow", follow, took)["run_id"] == rid
    quick = timed("trigger", lambda: h1.trigger("quick"), took)
    assert (
        timed("a run elsewhere", lambda: h1.wait_run("quick", quick, timeout=BOUND), took)["status"] == "good"
    )

    wait_for(lambda: status(h1, "held", rid) == "bad", timeout=40, what="h1 to resolve the hung host's run")
    ended = h1.run("held", rid)
    assert "host h2 lost while hold was running" in ended["reason"], ended
    assert task_pids(rid, ws), "the task of the hung host's run goes on while its host is hung"
    os.kill(h2.proc.pid, signal.SIGCONT)
    wait_for(lambda: not task_pids(rid, ws), what="h2 to kill the task of its resolved run")
    wait_for(
        lambda: "h2" in {h for (h,) in rows(pg_url, "SELECT host_id FROM hosts")}, what="h2's lease again"
    )
    again = h1.trigger("held")  # h2 is a host of the cluster again
    assert h2.wait_line(again, "hold", lambda line: line == "holding")
    assert h1.run("held", rid) == ended  # h2 wrote nothing over the resolution
    assert ends_stored(pg_url, rid) == {rid: 1}
    assert starts(shared) == Counter({rid: 1, again: 1})
    assert "resolved while this host was away" in h2.log()
    print(f"\nh2 hung: h1 answered {', '.join(f'{k} {v * 1000:.0f} ms' for k, v in took.items())}")


@pytest.mark.timeout(150)
def test_kill_9_of_the_host_that_claimed_a_pend_before_and_after_its_task_started(
    tmp_path: Path, pg_url: str, floe_host: HostFactory, resumed: list[FloeHost]
) -> None:
    """h2 claims two pends of a flow both hosts fit (h1 is busier): the first one's task runs, the
    second one is claimed but its activation not yet stored (the test holds the run's row, so the
    kill comes between the claim and the first task). `kill -9` of h2: h1 ends the first
    (`host h2 lost while mark was running`) and runs the second itself, once."""
    h1, h2, shared = hosts_of(tmp_path, pg_url, floe_host)
    for busy in [h1.trigger("busy") for _ in range(2)]:  # h1 is busier: h2 claims the `pair` runs
        h1.wait_line(busy, "wait", lambda line: line == "waiting")
    started = h1.trigger("pair")
    h2.wait_line(started, "mark", lambda line: line == "marked")
    assert h2.proc is not None
    resumed.append(h2)
    os.kill(h2.proc.pid, signal.SIGSTOP)  # h2 claims the next pend only once its row is held
    claimed = h1.trigger("pair")
    wait_for(lambda: rows(pg_url, "SELECT 1 FROM pends WHERE run_id = %s", (claimed,)), what="the pend")
    placed = "SELECT host_id FROM placements WHERE run_id = %s"
    with psycopg.connect(pg_url) as held:  # h2's write of the activation waits on this lock
        held.execute("SELECT 1 FROM runs WHERE run_id = %s FOR UPDATE", (claimed,))
        os.kill(h2.proc.pid, signal.SIGCONT)
        wait_for(lambda: rows(pg_url, placed, (claimed,)) == [("h2",)], what="h2 to claim the second pend")
        h2.kill9()
        held.rollback()
    assert starts(shared) == Counter({started: 1})  # the second one's task had not started

    wait_for(lambda: status(h1, "pair", started) == "bad", timeout=40, what="h1 to take h2 over")
    assert "host h2 lost while mark was running" in h1.run("pair", started)["reason"]
    wait_for(lambda: starts(shared)[claimed] == 1, what="the claimed pend to run on h1")
    (shared / "release").touch()
    ended = h1.wait_run("pair", claimed)
    assert ended["status"] == "good" and ended["exec_host"] == "h1", ended
    assert starts(shared) == Counter({started: 1, claimed: 1})  # nothing ran twice
    assert ends_stored(pg_url, started, claimed) == {started: 1, claimed: 1}
    assert rows(pg_url, "SELECT count(*) FROM pends") == [(0,)]


@pytest.mark.timeout(120)
def test_kill_9_of_the_executing_host_runs_a_task_again_on_the_survivor_where_it_has_retries(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    """A task with `retries: 1` runs on h2 (h1 is busier); `kill -9` of h2: h1 takes the run over
    and runs the task's second attempt itself (before, the run ended bad whatever its retries)."""
    h1, h2, shared = hosts_of(tmp_path, pg_url, floe_host)
    busy = h1.trigger("busy")
    h1.wait_line(busy, "wait", lambda line: line == "waiting")
    rid = h1.trigger("flaky")
    h2.wait_line(rid, "try", lambda line: line == "trying")
    h2.kill9()
    wait_for(lambda: starts(shared)[rid] == 2, timeout=40, what="the second attempt on h1")
    ended = h1.wait_run("flaky", rid)
    assert ended["status"] == "good" and ended["exec_host"] == "h1", ended
    node = next(n for n in ended["nodes"] if n["id"] == "try")
    assert node["attempts"] == 2 and node["tries"][0]["reason"] == "host h2 lost while try was running", node
    assert ends_stored(pg_url, rid) == {rid: 1}
    (shared / "release").touch()
