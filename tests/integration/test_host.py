"""The composition root (floe/host.py): one host's parts built once, wired to each other, served
in the test's event loop and reloaded through its Reloader."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from floe.config.sources import load_config_source
from floe.host import Host, Settings, open_host
from floe.hub.messages import Wake
from tests.support.host import TOKEN, free_port

CONF = """
common: {{workspace-root: "{root}/ws", store-type: memory}}
flows:
  - id: {flow}
    triggers: [{{id: every, type: timer, opts: {{period: 3600}}}}]
    tasks: [{{id: done, listen: trigger.good, type: end}}]
"""


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[Host, str, Path]]:
    """A host of the `tick` flow, running in this event loop; its URL and config file."""
    conf = tmp_path / "host.yml"
    conf.write_text(CONF.format(root=tmp_path, flow="tick"))
    settings = Settings("h1", frozenset({"linux"}), TOKEN, f"127.0.0.1:{free_port()}")
    async with open_host(await load_config_source(str(conf)), settings) as (host, listener):
        running = asyncio.create_task(host.run(listener, owns_process=False))
        await host.hub.ready.wait()
        yield host, f"http://{settings.bind}", conf
        host.stop()
        await running


async def test_the_cluster_wakes_the_hub_it_was_built_with(served: tuple[Host, str, Path]) -> None:
    host, _, _ = served
    assert host.hub.cluster is host.cluster and host.hub.store is host.store
    await host.cluster.beaten.wait()
    while not host.hub.queue.empty():  # what start-up and the first heartbeats posted
        host.hub.queue.get_nowait()
    await host.cluster.beat()  # a heartbeat round: the backstop wake of dispatch
    assert isinstance(host.hub.queue.get_nowait(), Wake)


async def test_a_reload_reaches_the_hub_the_triggers_and_the_api(served: tuple[Host, str, Path]) -> None:
    host, url, conf = served
    tock = host.hub.broadcast.subscribe(lambda e: e["flow"] == "tock" and e["tag"] == "sys.state")
    async with httpx.AsyncClient(base_url=url + "/build/api", headers={"X-Floe-Auth": TOKEN}) as api:
        assert (await api.get("/flows/tick")).status_code == 200
        conf.write_text(CONF.format(root=conf.parent, flow="tock").replace("period: 3600", "period: 1"))
        r = await api.post("/config/reload")
        assert r.status_code == 200 and r.json()["flows"] == ["tock"], r.text
        assert host.hub.config.flow("tock") is not None and host.hub.config.flow("tick") is None
        async with asyncio.timeout(20):  # the triggers follow the reload: the new timer fires
            pend, _ = await tock.get()
        assert pend["opts"]["action"] == "add-pend"
        assert host.triggers.status.status_of("tick") == {}
        assert (await api.get("/flows/tock")).json()["triggers"][0]["status"]["type"] == "timer"


async def test_the_host_answers_on_connections_that_send_at_once(served: tuple[Host, str, Path]) -> None:
    """Each connection the host accepts has TCP_NODELAY: an answer on a kept-alive connection is
    not held back for the client's delayed ACK."""
    host, url, _ = served
    async with httpx.AsyncClient(base_url=url, headers={"X-Floe-Auth": TOKEN}) as api:
        for _ in range(2):  # the second request on the kept-alive connection
            assert (await api.get("/healthz")).status_code == 200
        connections = host.server.server_state.connections
        assert connections
        for conn in connections:
            sock = conn.transport.get_extra_info("socket")  # type: ignore[attr-defined]
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
