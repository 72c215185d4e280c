"""The audit trail of hosts sharing one PostgreSQL database: every host's entries kept, none lost to
another host's, and each host counting its own sequence across a restart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.conftest import HostFactory
from tests.support.host import FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  store-type: postgres
  store-url: {url}
flows:
  - id: note
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: done, listen: trigger.good, type: end}}
"""
RUNS = 20  # triggers on each host


def trail(host: FloeHost) -> list[dict[str, Any]]:
    r = host.get("/audit?limit=1000")
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


def test_two_hosts_auditing_at_once_on_one_database_lose_no_entry(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    """Both hosts count from the shared `audit-seq`: h1's entry 1 and h2's entry 1 were one row of
    the `_audit` stream, and the second one written was dropped."""
    conf = CONF.format(root="{root}", url=pg_url)
    h1 = floe_host(conf, name="h1")
    h2 = floe_host(conf, name="h2")
    with ThreadPoolExecutor(2) as pool:
        made = list(pool.map(lambda h: [h.trigger("note") for _ in range(RUNS)], (h1, h2)))
    runs = sorted(r for ids in made for r in ids)
    for host in (h1, h2):
        entries = [e for e in trail(host) if e["action"] == "trigger"]
        assert sorted(e["run_id"] for e in entries) == runs  # every host's, on any host
        assert len({(e["host"], e["seq"]) for e in entries}) == 2 * RUNS
    h2.stop()
    h2.start()
    again = h2.trigger("note")
    entries = [e for e in trail(h1) if e["action"] == "trigger"]
    assert sorted(e["run_id"] for e in entries) == sorted([*runs, again])
    mine = [e["seq"] for e in entries if e["host"] == "h2"]
    assert max(mine) == next(e["seq"] for e in entries if e["run_id"] == again)  # h2 counts on from its own
    assert len(set(mine)) == len(mine)
