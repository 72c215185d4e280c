"""A websocket client that never reads, while a run prints 200,000 lines: the host keeps serving."""

from __future__ import annotations

import base64
import os
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from floe.server.ws import QUEUE
from tests.conftest import HostFactory
from tests.support.host import TOKEN, FloeHost
from tests.support.stream import events, recv

LINES = 200_000
STALL_BOUND = 15.0  # seconds /healthz may take while the host is flooded: beyond it, the host is stuck
HEALTH_BOUND = 1.0  # what /healthz should take (the hub yields to the server; see the xfail below)
CONF = f"""
common:
  workspace-root: {{root}}/ws
  store-type: local
  store-root: {{root}}/store
flows:
  - id: flood
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: print, listen: trigger.good, type: exec, opts: {{cmd: "seq 1 {LINES}"}}}}
      - {{id: done, listen: task.print.good, type: end}}
"""


def stalled_client(host: FloeHost, query: str) -> socket.socket:
    """Open a websocket by hand with a tiny receive buffer, read the handshake, then never read again."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", host.port))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        (
            f"GET /ws?{query} HTTP/1.1\r\nHost: 127.0.0.1:{host.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"X-Floe-Auth: {TOKEN}\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        assert chunk, "the host closed the websocket handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


class Prober(threading.Thread):
    """Asks /healthz every 0.1 s until stopped; keeps the slowest answer and any failure."""

    def __init__(self, host: FloeHost) -> None:
        super().__init__(daemon=True)
        self.url = host.url + "/healthz"
        self.stop = threading.Event()
        self.slowest = 0.0
        self.probes = 0
        self.times: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        with httpx.Client(timeout=STALL_BOUND * 2) as c:
            while not self.stop.wait(0.1):
                t = time.monotonic()
                try:
                    ok = c.get(self.url).json().get("ok") is True
                except httpx.HTTPError as e:
                    ok = False
                    self.failures.append(repr(e))
                self.times.append(time.monotonic() - t)
                self.slowest = max(self.slowest, self.times[-1])
                self.probes += 1
                if not ok:
                    self.failures.append("not ok")


@pytest.mark.timeout(150)
def test_a_client_that_never_reads_does_not_stall_the_host(floe_host: HostFactory) -> None:
    host = floe_host(CONF, process=True)
    stalled = [stalled_client(host, "flow=flood"), stalled_client(host, "")]
    prober = Prober(host)
    prober.start()
    try:
        with events(host, flow="flood", tags="sys.end.all") as ends, events(host, flow="flood") as everything:
            t0 = time.monotonic()
            run_id = host.trigger("flood")
            end = recv(ends, time.monotonic() + 120)
            elapsed = time.monotonic() - t0
            assert end["run_id"] == run_id and end["opts"]["status"] == "good", end
            # a reader that keeps up sees every line, or is cut off as too slow: it is never stalled
            got, closed = 0, ""
            deadline = time.monotonic() + 30
            try:
                while True:
                    e = recv(everything, deadline)
                    got += len(e["opts"].get("lines", ()))
                    if e["tag"] == "sys.end.all":
                        break
            except Exception as e:  # the host may close a reader that fell 10,000 events behind
                closed = repr(e)
    finally:
        prober.stop.set()
        prober.join(10)
        for s in stalled:
            s.close()
    print(
        f"\nchaos slow client: {LINES} lines in {elapsed:.1f}s, stalled clients 2, healthz probes "
        f"{prober.probes} slowest {prober.slowest * 1e3:.0f} ms "
        f"(over 0.5 s: {sum(t > 0.5 for t in prober.times)}), full reader got {got} lines"
        + (f" then was closed: {closed}" if closed else "")
    )
    log = host.node_log("flood", run_id, "print").splitlines()
    assert log[-1] == str(LINES) and len(log) == LINES + 3
    assert prober.failures == [] and prober.probes > 0
    assert prober.slowest < STALL_BOUND, f"/healthz took {prober.slowest:.2f}s"
    assert "closed a websocket client that stopped reading" in host.log()
    assert host.http.get("/healthz").json()["ok"] is True
    assert got == LINES + 3 or closed, "the full reader neither got every line nor was closed"
    if prober.slowest >= HEALTH_BOUND:
        pytest.xfail(
            f"bug: /healthz took {prober.slowest:.1f}s during the flood: the hub handles every queued "
            "message without yielding to the server (docs/reliability.md)"
        )


# a stalled client holds its queue (QUEUE lines), the transport's buffer and the kernel's send
# buffer (together some 40,000 of these lines): six queues' worth overflows it whatever the batching
FIFTY_LINES = 6 * QUEUE
FIFTY = CONF.replace(f"seq 1 {LINES}", f"seq 1 {FIFTY_LINES}")


def _cpu(host: FloeHost) -> float:
    """CPU seconds the host process has used (user + system): unlike the wall clock, not
    stretched by whatever else the machine runs."""
    assert host.proc is not None
    fields = Path(f"/proc/{host.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _flood(host: FloeHost) -> tuple[float, float]:
    """Run the flood once: the host's CPU seconds for it, and the seconds from its task's start to
    the run's end (host clocks)."""
    cpu = _cpu(host)
    with events(host, flow="flood", tags="sys.end.all") as ends:
        run_id = host.trigger("flood")
        end = recv(ends, time.monotonic() + 120)
    assert end["run_id"] == run_id and end["opts"]["status"] == "good", end
    run = host.run("flood", run_id)
    return _cpu(host) - cpu, float(run["ended"]) - float(run["nodes"][0]["started"])


@pytest.mark.timeout(200)
def test_fifty_clients_that_never_read_are_dropped_by_their_queue_and_do_not_slow_the_run(
    floe_host: HostFactory,
) -> None:
    host = floe_host(FIFTY, process=True)
    cpu_alone, alone = _flood(host)
    stalled = [stalled_client(host, "flow=flood" if i % 2 else "") for i in range(50)]
    try:
        cpu_crowded, crowded = _flood(host)
        log = host.log()
    finally:
        for s in stalled:
            s.close()
    drops = [i for i, line in enumerate(log.splitlines()) if "stopped reading: its queue of" in line]
    ended = [i for i, line in enumerate(log.splitlines()) if "flood ended good" in line]
    print(
        f"\nchaos 50 stalled clients: {FIFTY_LINES} lines in {alone:.2f}s ({cpu_alone:.2f} CPU s) alone, "
        f"{crowded:.2f}s ({cpu_crowded:.2f} CPU s) with 50 clients that never read; "
        f"{len(drops)} dropped by their queue bound"
    )
    # the mechanism: the hub never waits for a subscriber, so the run goes on at its pace while
    # each stalled client's bounded queue fills; each is cut off then, during the run (no timer)
    assert len(drops) == 50, log[-3000:]
    assert len(ended) == 2 and max(drops) < ended[1], "a stalled client was dropped only after the run"
    # and a client that stopped reading costs the host little: its send buffer is bounded
    assert cpu_crowded < 3 * cpu_alone + 1.0, f"{cpu_crowded:.1f} CPU s with 50 stalled clients"
