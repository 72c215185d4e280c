"""Faults in a three-host cluster on loopback: a peer hung (SIGSTOP) while runs are offered to it, and
a peer killed (kill -9) during a burst, then restarted. Every acknowledged run must end exactly once.

Each task appends its workspace path (`$FLOEWS`: the executing host's root and the run id) to a
ledger file shared by the three hosts, so a run started twice, or on a host it must not run on, shows
up even if its second start was cut off by a kill."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.host import FloeHost, cluster_hosts, start_cluster, stop_all, wait_for

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
      - {id: mark, listen: trigger.good, type: exec, opts: {shell: 'echo "$FLOEWS" >> {ledger}'}}
      - {id: done, listen: task.mark.good, type: end}
  - id: work
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: mark, listen: trigger.good, type: exec, opts: {shell: 'echo "$FLOEWS" >> {ledger}; sleep 0.4'}}
      - {id: done, listen: task.mark.good, type: end}
  - id: pair
    ver: 1
    host-tags: [pair]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: mark, listen: trigger.good, type: exec, opts: {shell: 'echo "$FLOEWS" >> {ledger}'}}
      - {id: done, listen: task.mark.good, type: end}
"""
FINAL = {"good", "bad", "cancelled"}
INTERRUPTED = re.compile(r"^host restarted while [a-z, ]+ was running$")
LEDGER_LINE = re.compile(r"/(h[123])/ws/.*/(h[123]-[0-9]+)$")


class Cluster:
    def __init__(self, root: Path) -> None:
        self.ledger = root / "ledger.txt"
        self.ledger.touch()
        conf = CONF.replace("{ledger}", str(self.ledger))
        self.hosts = cluster_hosts(root, conf, ["linux", "linux,special,pair", "linux,pair"])

    def start(self) -> Cluster:
        start_cluster(self.hosts)
        return self

    def executions(self) -> list[tuple[str, str]]:
        """(executing host, run id) for every task start the ledger recorded."""
        out = []
        for line in self.ledger.read_text().splitlines():
            m = LEDGER_LINE.search(line.strip())
            assert m, f"ledger line {line!r}"
            out.append((m.group(1), m.group(2)))
        return out

    def own(self, host: FloeHost, flow: str) -> dict[str, list[dict[str, Any]]]:
        """The host's own pending, active and archived runs of `flow` (never gathered from peers)."""
        own = {"X-Floe-For": "admin", "X-Floe-Role": "admin"}  # as a peer asks: its own part only
        r = host.get(f"/flows/{flow}/runs?limit=500", headers=own)
        assert r.status_code == 200, r.text
        doc: dict[str, list[dict[str, Any]]] = r.json()
        return doc

    def archived(self, flow: str) -> list[tuple[str, dict[str, Any]]]:
        """(host, summary) of every archived run of `flow` in each of the three stores."""
        return [(h.name, s) for h in self.hosts for s in self.own(h, flow)["archive"]]

    def online(self, viewer: FloeHost, name: str) -> bool:
        return bool(next(x for x in viewer.get("/hosts").json()["hosts"] if x["id"] == name)["online"])


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path)
    try:
        yield c.start()
    finally:
        stop_all(c.hosts)


@pytest.mark.timeout(60)
def test_runs_for_a_hung_peer_wait_for_it_and_run_there_once(cluster: Cluster) -> None:
    h1, h2, h3 = cluster.hosts
    assert h2.proc is not None
    os.kill(h2.proc.pid, signal.SIGSTOP)
    t_stop = time.monotonic()
    try:
        early = [h1.trigger("special") for _ in range(6)]  # h1 still believes h2 online: offered
        wait_for(lambda: not cluster.online(h1, "h2"), what="h1 sees h2 offline")
        late = [h1.trigger("special") for _ in range(4)]  # h2 known offline: not offered
        runs = early + late

        def all_waiting_with_a_reason() -> bool:
            return all(
                (r := h1.run("special", rid))["status"] == "pending" and "h2" in r["pending_reason"]
                for rid in runs
            )

        wait_for(all_waiting_with_a_reason, 15, "every run pending with a reason naming h2")
        reasons = Counter(h1.run("special", rid)["pending_reason"] for rid in runs)
        assert cluster.executions() == []  # started nowhere: h2 is hung, no other host has the tag
        for h in (h1, h3):
            own = cluster.own(h, "special")
            assert own["active"] == [] and own["archive"] == [], (h.name, own)
        assert {s["run_id"] for s in cluster.own(h1, "special")["pending"]} == set(runs)
        listed = h3.get("/flows/special/runs").json()  # any host answers for the cluster, partially
        assert "h2" in listed["partial"]
    finally:
        os.kill(h2.proc.pid, signal.SIGCONT)
    t_resume = time.monotonic()
    wait_for(lambda: all(h1.run("special", rid)["status"] in FINAL for rid in runs), 30, "every run ended")
    settle = time.monotonic() - t_resume
    wait_for(lambda: len(cluster.archived("special")) >= len(runs), 10, "every run archived")
    time.sleep(1.0)  # a late second start of a stale offer would show in the ledger meanwhile
    executions = Counter(cluster.executions())
    archived = cluster.archived("special")
    by_run = Counter(s["run_id"] for _, s in archived)
    print(
        f"\nhung peer: {len(runs)} runs ({len(early)} offered to h2 while hung, {len(late)} after it was"
        f" seen offline), 1 SIGSTOP of h2 for {t_resume - t_stop:.1f}s; pending reasons:"
        f" {dict(reasons)}; all ended {settle:.2f}s after SIGCONT; executions {sum(executions.values())},"
        f" archived {len(archived)}, lost {len(set(runs) - set(by_run))},"
        f" duplicated {sum(n - 1 for n in by_run.values()) + sum(n - 1 for n in executions.values())}"
    )
    assert sorted(executions) == sorted(("h2", rid) for rid in runs)
    assert all(n == 1 for n in executions.values()), executions
    assert sorted((h, s["run_id"], s["status"]) for h, s in archived) == sorted(
        ("h2", rid, "good") for rid in runs
    )
    for h in cluster.hosts:
        own = cluster.own(h, "special")
        assert own["pending"] == [] and own["active"] == [], (h.name, own)


@pytest.mark.timeout(90)
def test_a_peer_killed_during_a_burst_then_restarted(cluster: Cluster) -> None:
    h1, h2, h3 = cluster.hosts
    acked: list[str] = []
    unanswered: list[str] = []
    lock = threading.Lock()
    per_client = 15

    def client(host: FloeHost) -> None:
        with httpx.Client(base_url=host.url, headers=host.http.headers, timeout=10) as c:
            for _ in range(per_client):
                body = {"Ref": {"ID": "work", "Ver": 1}, "Form": {"ID": "go", "Values": {}}}
                try:
                    r = c.post("/build/api/push/data", json=body)
                except httpx.HTTPError as e:
                    with lock:
                        unanswered.append(repr(e))
                    continue
                assert r.status_code == 202, r.text
                with lock:
                    acked.append(r.json()["run_id"])
                time.sleep(0.02)

    threads = [threading.Thread(target=client, args=(h,)) for h in (h1, h3, h1, h3)]
    for t in threads:
        t.start()
    try:
        wait_for(lambda: sum(h == "h2" for h, _ in cluster.executions()) >= 3, 20, "h2 runs 3 tasks")
        h2.kill9()  # mid-burst: runs active on h2, offers to h2 in flight, more triggers coming
        killed_after = len(acked)
    finally:
        for t in threads:
            t.join(30)
    wait_for(lambda: not cluster.online(h1, "h2") and not cluster.online(h3, "h2"), what="h2 seen offline")
    stranded = h1.get("/flows/work/runs").json()  # while h2 is dead: what the cluster says
    h2.start()
    wait_for(lambda: cluster.online(h1, "h2") and cluster.online(h3, "h2"), what="h2 seen online")

    def every_run_archived() -> bool:
        return set(acked) <= {s["run_id"] for _, s in cluster.archived("work")}

    wait_for(every_run_archived, 40, "every acknowledged run archived")
    time.sleep(1.0)  # a late second start would show in the ledger and the stores meanwhile
    archived = cluster.archived("work")
    by_run = Counter(s["run_id"] for _, s in archived)
    executions = Counter(rid for _, rid in cluster.executions())
    statuses = Counter(s["status"] for _, s in archived)
    interrupted = [s for _, s in archived if s["status"] == "bad"]
    per_host = Counter(h for h, _ in archived)
    lost = set(acked) - set(by_run)
    duplicated = sum(n - 1 for n in by_run.values()) + sum(n - 1 for n in executions.values())
    print(
        f"\nkill -9 of a peer: {len(acked)} runs acknowledged by h1 and h3 ({killed_after} before the kill),"
        f" {len(unanswered)} triggers unanswered; 1 kill -9 of h2 + restart; while h2 was dead the cluster"
        f" list had {len(stranded['active'])} active ({Counter(a['reason'] for a in stranded['active'])}),"
        f" {len(stranded['pending'])} pending"
        f" ({Counter(a['pending_reason'] for a in stranded['pending'])}), partial {stranded['partial']};"
        f" archived per host"
        f" {dict(per_host)}, statuses {dict(statuses)}, reasons"
        f" {dict(Counter(s['reason'] for s in interrupted))}; lost {len(lost)}, duplicated {duplicated}"
    )
    assert unanswered == []  # h1 and h3 were never killed
    assert len(set(acked)) == len(acked)
    assert lost == set()
    assert set(by_run) == set(acked), set(by_run) - set(acked)
    assert all(n == 1 for n in by_run.values()), [r for r, n in by_run.items() if n > 1]
    assert all(n == 1 for n in executions.values()), [r for r, n in executions.items() if n > 1]
    for s in interrupted:
        assert INTERRUPTED.match(s["reason"]), s
    assert statuses["good"] + statuses["bad"] == len(acked)
    for h in cluster.hosts:
        own = cluster.own(h, "work")
        assert own["pending"] == [] and own["active"] == [], (h.name, own)


@pytest.mark.timeout(60)
def test_an_offer_refused_by_a_dead_peer_goes_to_another_fitting_host(cluster: Cluster) -> None:
    h1, h2, h3 = cluster.hosts
    h2.kill9()  # h1 learns it at its next heartbeat (within 1 s); until then it offers to h2
    run_id = h1.trigger("pair")  # h2 and h3 fit, both idle: h2 (the lower id) gets the offer
    seen: set[str] = set()

    def left_pending() -> bool:
        r = h1.run("pair", run_id)
        seen.add(r["pending_reason"])
        return bool(r["status"] != "pending")

    try:
        wait_for(left_pending, 8, "the run leaves pending")
    except AssertionError:
        print(f"\nrefused offer: {run_id} still pending after 8 s with h3 idle; reasons {seen}")
        raise
    if not any("h2" in why for why in seen):
        pytest.skip("h1's heartbeat saw h2 offline before the offer: the refused offer was not exercised")
    assert h3.wait_run("pair", run_id)["exec_host"] == "h3"
