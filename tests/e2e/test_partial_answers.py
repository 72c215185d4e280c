"""Answers that miss a host say which, on a real two-host cluster with one host stopped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.host import FloeHost, cluster_hosts, start_cluster, stop_all
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
      - {id: work, listen: trigger.good, type: exec, opts: {shell: "echo worked"}}
"""


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[FloeHost]]:
    hosts = cluster_hosts(tmp_path, CONF, ["linux", "linux,special"], InProcessHost)
    try:
        start_cluster(hosts)
        yield hosts
    finally:
        stop_all(hosts)


def test_a_stopped_host_is_named_in_every_answer_it_is_missing_from(pair: list[FloeHost]) -> None:
    h1, h2 = pair
    handed = h1.trigger("special")  # adopted by h1, executed by h2
    own = h2.trigger("special")  # adopted and executed by h2: h1 has never heard of it
    for run in (handed, own):
        assert h2.wait_run("special", run)["status"] == "good"
    assert h1.run("special", handed)["partial"] == []
    h2.stop()
    listed = h1.get("/flows/special/runs").json()
    assert listed["partial"] == ["h2"] and listed["archive"] == []
    stale = h1.run("special", handed)
    assert stale["partial"] == ["h2"] and stale["reason"] == "exec host h2 unreachable"
    gone = h1.get(f"/flows/special/runs/{own}")
    assert gone.status_code == 404
    assert (
        gone.json()["error"] == f"no run {own} of flow special (host h2 could not be asked: it may be there)"
    )
    page = h1.http.get(f"/app/flows/special/runs/{own}")
    assert page.status_code == 404 and "host h2 could not be asked" in page.text
