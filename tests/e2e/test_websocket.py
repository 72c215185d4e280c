"""The event stream `/ws` of a real host, read by real websocket clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.support.host import TOKEN, FloeHost

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: quick
    ver: 1
    triggers: [{id: go, type: data, opts: {form: {fields: []}}}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {shell: 'echo one; echo two'}}
      - {id: b, listen: task.a.good, type: exec, opts: {shell: 'echo three'}}
  - id: other
    ver: 1
    triggers: [{id: go, type: data, opts: {form: {fields: []}}}]
    tasks:
      - {id: x, listen: trigger.good, type: exec, opts: {shell: 'echo other'}}
  - id: gated
    ver: 1
    triggers: [{id: go, type: data, opts: {form: {fields: []}}}]
    tasks:
      - {id: before, listen: trigger.good, type: exec, opts: {shell: 'echo before the gate'}}
      - id: gate
        listen: task.before.good
        type: data
        opts: {form: {fields: [{id: ok, type: bool, required: true}]}}
      - {id: after, listen: task.gate.good, type: exec, opts: {shell: 'echo after the gate'}}
  - id: flood
    ver: 1
    triggers: [{id: go, type: data, opts: {form: {fields: []}}}]
    tasks:
      - {id: spew, listen: trigger.good, type: exec, opts: {shell: 'seq 1 150000'}}
"""

Event = dict[str, Any]
AUTH = {"X-Floe-Auth": TOKEN}


@pytest.fixture
def host(floe_host: Callable[..., FloeHost]) -> FloeHost:
    return floe_host(CONFIG)


@asynccontextmanager
async def stream(host: FloeHost, query: str = "", **kw: Any) -> AsyncIterator[ClientConnection]:
    url = f"ws://127.0.0.1:{host.port}/ws" + (f"?{query}" if query else "")
    async with connect(url, additional_headers=AUTH, open_timeout=10, **kw) as ws:
        yield ws


async def until_end(ws: ClientConnection, run_ids: set[str], timeout: float = 30) -> list[Event]:
    """Read events until every run in `run_ids` has its sys.end.all."""
    out: list[Event] = []
    left = set(run_ids)

    async def read() -> None:
        while left:
            e = json.loads(await ws.recv())
            out.append(e)
            if e["tag"] == "sys.end.all":
                left.discard(e["run_id"])

    await asyncio.wait_for(read(), timeout)
    return out


async def follow_to_end(host: FloeHost, ws: ClientConnection, run: str) -> tuple[list[Event], int]:
    """The events of `run` up to its end. The host never waits for a reader: one that falls a whole
    queue behind is closed with 4408, and reconnects after the last seq it got, as the dashboard
    does; also how many times that happened."""
    out: list[Event] = []
    again: list[ClientConnection] = []
    try:
        while True:
            try:
                while True:
                    e = json.loads(await asyncio.wait_for(ws.recv(), 30))
                    if e["run_id"] == run:
                        out.append(e)
                        if e["tag"] == "sys.end.all":
                            return out, len(again)
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 4408, closed
                assert closed.rcvd.reason == "too slow"
            after = out[-1]["seq"] if out else 0
            ws = await connect(
                f"ws://127.0.0.1:{host.port}/ws?run={run}&after={after}",
                additional_headers=AUTH,
                compression=None,
                max_size=None,
            )
            again.append(ws)
    finally:
        for w in again:
            await w.close()


async def trigger(host: FloeHost, flow: str, values: dict[str, Any] | None = None) -> str:
    return await asyncio.to_thread(host.trigger, flow, "go", values)


def seqs(events: list[Event], run_id: str) -> list[int]:
    return [e["seq"] for e in events if e["run_id"] == run_id]


async def test_events_of_each_run_arrive_in_order(host: FloeHost) -> None:
    async with stream(host) as ws:
        runs = {await trigger(host, "quick") for _ in range(3)}
        events = await until_end(ws, runs)
    for run_id in runs:
        got = seqs(events, run_id)
        assert got == list(range(1, len(got) + 1)), got  # strictly increasing, none missing
        tags = [e["tag"] for e in events if e["run_id"] == run_id]
        assert tags[0] == "sys.state" and tags[-1] == "sys.end.all"
        assert {"sys.node.start", "task.a.good", "task.b.good"} <= set(tags)
        lines = [x for e in events if e["run_id"] == run_id for x in e["opts"].get("lines", ())]
        assert [x for x in lines if x in ("one", "two", "three")] == ["one", "two", "three"]
    sample = events[0]
    assert set(sample) == {"run_id", "flow", "source_node", "tag", "good", "opts", "seq", "at"}


async def test_run_and_flow_filters(host: FloeHost) -> None:
    async with stream(host, "flow=other") as by_flow:
        first = await trigger(host, "gated")
        async with stream(host, f"run={first}") as by_run:
            other = await trigger(host, "other")
            second = await trigger(host, "quick")
            async with stream(host, f"run={second}") as by_second:
                await until_end(by_second, {second})  # every event of the second run is published
            # what either stream gets next was published after all of the second run: none of it
            # reaches either, if their events up to the gated run's end and to a later run's of
            # flow other hold none
            await asyncio.to_thread(host.wait_run, "gated", first, ("waiting",))
            assert (
                await asyncio.to_thread(host.push, "gated", "gate", {"ok": True}, first)
            ).status_code == 200
            later = await trigger(host, "other")
            only_run = await until_end(by_run, {first})
            only_flow = await until_end(by_flow, {other, later})
            assert {e["run_id"] for e in only_run} == {first}
            assert {e["flow"] for e in only_flow} == {"other"}


async def test_tags_filter(host: FloeHost) -> None:
    async with stream(host, "tags=sys.state,sys.end.all") as ws:
        run = await trigger(host, "quick")
        events = await until_end(ws, {run})
    assert [e["tag"] for e in events] == ["sys.state", "sys.state", "sys.end.all"]


async def test_late_client_gets_the_replay_then_live_events(host: FloeHost) -> None:
    run = await trigger(host, "gated")
    await asyncio.to_thread(host.wait_run, "gated", run, ("waiting",))
    async with stream(host, f"run={run}") as ws:
        replay: list[Event] = []
        while not replay or replay[-1]["tag"] != "sys.data.required":
            replay.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        assert replay[0]["seq"] == 1 and replay[0]["opts"]["action"] == "add-pend"
        r = await asyncio.to_thread(host.push, "gated", "gate", {"ok": True}, run)
        assert r.status_code == 200, r.text
        live = await until_end(ws, {run})
    got = [e["seq"] for e in replay + live]
    assert got == list(range(1, len(got) + 1))  # no gap and no duplicate between replay and live
    assert "task.gate.good" in [e["tag"] for e in live]
    # a reconnecting client resumes after the last seq it saw
    async with stream(host, f"run={run}&after={replay[-1]['seq']}") as ws:
        resumed = await until_end(ws, {run})
    assert [e["seq"] for e in resumed] == [e["seq"] for e in live]


async def test_a_client_that_stops_reading_is_dropped_and_others_keep_receiving(
    floe_host: Callable[..., FloeHost],
) -> None:
    host = floe_host(CONFIG, process=True)  # a flood: the host's own process keeps it off the test's GIL
    async with (
        stream(host, "flow=flood", compression=None, max_queue=1) as stalled,
        stream(host, "flow=flood", compression=None, max_size=None) as reader,
    ):
        run = await trigger(host, "flood")
        events, dropped = await follow_to_end(host, reader, run)
        lines = [x for e in events if e["tag"] == "sys.node.update" for x in e["opts"].get("lines", ())]
        assert len(lines) >= 150_000 and seqs(events, run) == sorted(set(seqs(events, run)))
        assert events[-1]["opts"]["status"] == "good"
        print(f"\nthe reader was closed as too slow {dropped} times, and missed nothing")
        with pytest.raises(ConnectionClosed):
            while True:  # what it had buffered, then the end: it was cut off
                await asyncio.wait_for(stalled.recv(), 20)
    health = await asyncio.to_thread(lambda: host.http.get("/healthz").json())
    assert health["ok"] is True
    assert "stopped reading" in host.log()
    async with stream(host, "flow=quick") as ws:  # still serving
        run = await trigger(host, "quick")
        assert (await until_end(ws, {run}))[-1]["opts"]["status"] == "good"


async def test_a_hundred_clients_each_get_every_event(host: FloeHost) -> None:
    clients = [
        await connect(f"ws://127.0.0.1:{host.port}/ws?flow=quick", additional_headers=AUTH)
        for _ in range(100)
    ]
    try:
        run = await trigger(host, "quick")
        got = await asyncio.gather(*(until_end(ws, {run}) for ws in clients))
    finally:
        await asyncio.gather(*(ws.close() for ws in clients))
    async with stream(host, f"run={run}") as ws:
        stored = await until_end(ws, {run})
    assert len(stored) > 5
    for events in got:
        assert events == stored


async def test_the_stream_needs_credentials(host: FloeHost) -> None:
    url = f"ws://127.0.0.1:{host.port}/ws"
    for headers in ({}, {"X-Floe-Auth": "wrong"}, {"Cookie": "floe-sesh=forged"}):
        try:
            async with connect(url, additional_headers=headers, open_timeout=10) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(ws.recv(), 10)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        except InvalidStatus as refused:  # refusing the handshake would do as well
            assert refused.response.status_code in (401, 403)
    login = await asyncio.to_thread(
        host.http.post, "/build/api/login", json={"user": "admin", "password": TOKEN}
    )
    cookie = login.cookies["floe-sesh"]
    async with connect(url + "?flow=quick", additional_headers={"Cookie": f"floe-sesh={cookie}"}) as ws:
        run = await trigger(host, "quick")
        assert (await until_end(ws, {run}))[-1]["tag"] == "sys.end.all"


async def test_a_flood_of_output_is_stored_and_sent_in_batches_each_line_once(host: FloeHost) -> None:
    run = await trigger(host, "flood")
    await asyncio.to_thread(host.wait_run, "flood", run, timeout=120)
    raw: list[str] = []
    async with stream(host, f"run={run}", max_size=None) as ws:  # the stored events, replayed
        while not raw or '"sys.end.all"' not in raw[-1]:
            raw.append(str(await asyncio.wait_for(ws.recv(), 30)))
    updates = [(json.loads(r), r) for r in raw if '"sys.node.update"' in r]
    lines = [x for e, _ in updates for x in e["opts"]["lines"]]
    output = [str(i) for i in range(1, 150_001)]
    assert lines[3:] == output  # after the exec header, every line once, in order
    assert len(updates) < 150  # batches, not an event per line (it was 150,003)
    printed = sum(len(x) + 1 for x in output)
    assert sum(len(r) for _, r in updates) < 2 * printed  # the record of a line: not ~300 bytes
    log = await asyncio.to_thread(host.node_log, "flood", run, "spew")
    assert log.splitlines()[3:] == output


async def test_frames_are_not_deflated_even_when_the_client_offers_it(host: FloeHost) -> None:
    async with stream(host, "flow=quick", compression="deflate") as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        run = await trigger(host, "quick")
        assert (await until_end(ws, {run}))[-1]["opts"]["status"] == "good"
