"""Event streams across a peer-to-peer cluster of real hosts: every stream keeps flowing when a run
is handed to another host, and a host's live streams carry its peers' runs too."""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import ClientConnection

from tests.support.host import FloeHost, cluster_hosts, start_cluster, stop_all, wait_for
from tests.support.inprocess import InProcessHost
from tests.support.stream import events, recv

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
"""


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[FloeHost]]:
    """h1 and h2 (the only one with tag `special`), not started."""
    hosts = cluster_hosts(tmp_path, CONF, ["linux", "linux,special"], InProcessHost)
    try:
        yield hosts
    finally:
        stop_all(hosts)


def stream_clients(host: FloeHost) -> int:
    found = re.search(r"^floe_websocket_clients (\S+)$", host.http.get("/metrics").text, re.M)
    return int(float(found.group(1))) if found else 0


def until_end(ws: ClientConnection, run_id: str, deadline: float) -> list[str]:
    """The tags of the run's events the stream sends, up to its `sys.end.all`."""
    tags: list[str] = []
    while not tags or tags[-1] != "sys.end.all":
        e = recv(ws, deadline)
        if e["run_id"] == run_id:
            tags.append(e["tag"])
    return tags


def test_live_streams_on_one_host_carry_a_run_handed_to_another(pair: list[FloeHost]) -> None:
    h1, h2 = pair
    start_cluster(pair)
    queries: list[dict[str, str | int]] = [{}, {"flow": "special"}, {"tags": "sys.state,sys.end.all"}]
    with contextlib.ExitStack() as opened:
        bare, flow, tagged = (opened.enter_context(events(h1, **q)) for q in queries)
        # each of h1's live streams follows h2's own events through one stream there
        wait_for(lambda: stream_clients(h2) >= len(queries), what="h1's streams follow h2")
        run_id = h1.trigger("special")
        deadline = time.monotonic() + 20
        for ws in (bare, flow, tagged):
            assert until_end(ws, run_id, deadline)[-1] == "sys.end.all"
        assert h1.wait_run("special", run_id)["status"] == "good"
        # and they keep flowing: the next run, started on h2 itself, reaches them too
        again = h2.trigger("special")
        for ws in (bare, flow, tagged):
            assert until_end(ws, again, time.monotonic() + 20)[-1] == "sys.end.all"


def test_a_run_stream_follows_its_run_when_it_is_handed_off(pair: list[FloeHost]) -> None:
    h1, h2 = pair
    h1.start()
    run_id = h1.trigger("special")  # pending on h1: no host with tag special yet
    with events(h1, run=run_id) as ws:
        wait_for(lambda: stream_clients(h1) >= 1, what="the run's stream on h1")
        h2.start()
        tags = until_end(ws, run_id, time.monotonic() + 30)
    assert "sys.moved" in tags and tags[-1] == "sys.end.all"
    assert tags.count("sys.end.all") == 1
