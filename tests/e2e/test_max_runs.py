"""Capacity as a cluster fact, on real host processes: `common.max-runs` (the `-max_runs` flag
overrides it) caps the runs a host takes at once, in the peer-to-peer cluster and on PostgreSQL; a
pend waits with its reason and starts when a slot frees."""

from __future__ import annotations

from pathlib import Path

import psycopg

from tests.conftest import HostFactory
from tests.support.host import FloeHost, cluster_hosts, start_cluster, stop_all, wait_for

FLOWS = """
flows:
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
"""
P2P = (
    """
common:
  hosts: [{{hosts}}]
  workspace-root: {{root}}/ws
  store-root: {{root}}/store
  max-runs: 1
"""
    + FLOWS
)
PG = (
    """
common:
  workspace-root: {{root}}/ws
  store-root: {{root}}/store
  store-type: postgres
  store-url: {url}
  max-runs: 1
"""
    + FLOWS
)
FULL = "every host that fits is at its max-runs"


def reason(host: FloeHost, run_id: str) -> str:
    return str(host.run("slow", run_id)["pending_reason"])


def holds_one_at_a_time(h1: FloeHost, h2: FloeHost, shared: Path) -> None:
    """Two runs of `slow` triggered on h1, only h2 fits and takes one at once: the second waits
    with the reason until the first ends, then runs on h2."""
    first = h1.trigger("slow")
    h2.wait_line(first, "hold", lambda line: line == "holding")
    second = h1.trigger("slow")
    wait_for(lambda: reason(h1, second) == FULL, what="the second pend's reason")
    assert h1.run("slow", second)["status"] == "pending"
    (shared / "release").touch()
    for rid in (first, second):
        ended = h2.wait_run("slow", rid)
        assert ended["status"] == "good" and ended["exec_host"] == "h2", ended


def test_max_runs_of_the_config_holds_pends_in_the_peer_to_peer_cluster(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    hosts = cluster_hosts(tmp_path, P2P.format(shared=shared), ["linux", "linux,special"])
    try:
        start_cluster(hosts)
        h1, h2 = hosts
        listed = {h["id"]: h for h in h1.get("/hosts").json()["hosts"]}
        assert listed["h2"]["online"], listed
        holds_one_at_a_time(h1, h2, shared)
    finally:
        (shared / "release").touch()
        stop_all(hosts)


def test_max_runs_of_the_config_holds_pends_on_postgres_and_the_flag_overrides_it(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    conf = PG.format(url=pg_url, shared=shared)
    try:
        h1 = floe_host(conf, name="h1", tags="linux", process=True, extra=["-max_runs=3"])
        h2 = floe_host(conf, name="h2", tags="linux,special", process=True)
        with psycopg.connect(pg_url) as db:
            leases = db.execute(b"SELECT host_id, max_runs FROM hosts ORDER BY host_id").fetchall()
        assert leases == [("h1", 3), ("h2", 1)]  # h1's flag wins over the config's 1
        holds_one_at_a_time(h1, h2, shared)
    finally:
        (shared / "release").touch()
