"""A real `python -m floe` host for benchmarks: spawned on a free loopback port, stopped by its PID."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from benchmarks import profile

TOKEN = "bench-admin-token"
BASE = "/build/api"
AUTH = {"X-Floe-Auth": TOKEN}

CONFIG_HEAD = """\
common:
  workspace-root: {root}/ws
  store-type: local
  store-root: {root}/store
flows:
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def rss_kib(pid: int) -> int:
    """Resident set size of process `pid` (VmRSS) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


class Host:
    """One floe host process; `async with Host(...)` starts it and always stops it."""

    def __init__(
        self,
        root: Path,
        flows_yaml: str,
        *,
        name: str = "h1",
        port: int | None = None,
        tags: str = "",
        hosts: list[str] | None = None,
        store_url: str = "",
    ) -> None:
        """`hosts` (every member's URL, this one included) makes it a cluster member with `tags`;
        `store_url` puts its store in that PostgreSQL database."""
        self.root, self.name, self.tags = root, name, tags
        self.port = port or free_port()
        root.mkdir(parents=True, exist_ok=True)
        self.conf = root / f"{name}.yml"
        head = CONFIG_HEAD.format(root=root)
        if hosts:
            head = head.replace("common:\n", f"common:\n  hosts: [{', '.join(hosts)}]\n", 1)
        if store_url:
            head = head.replace("store-type: local\n", f"store-type: postgres\n  store-url: {store_url}\n", 1)
        self.conf.write_text(head + flows_yaml)
        self.log_path = root / f"{name}.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.spy: asyncio.subprocess.Process | None = None  # py-spy, with `scripts/bench --profile`
        self.start_seconds = 0.0  # spawn → /healthz ok
        self.http = httpx.AsyncClient(base_url=self.url, headers=AUTH, timeout=60)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def store_dir(self) -> Path:
        """Where the host's LocalStore lives (floe.host opens `<store-root>/store`)."""
        return self.root / "store" / "store"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    async def __aenter__(self) -> Host:
        try:
            await self.start()
        except BaseException:
            await self.stop()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self, wait: float = 60.0) -> None:
        argv = [
            sys.executable,
            "-m",
            "floe",
            f"-conf={self.conf}",
            f"-host_name={self.name}",
            f"-admin={TOKEN}",
            f"-pub_bind=127.0.0.1:{self.port}",
            *([f"-tags={self.tags}"] if self.tags else []),
        ]
        log = self.log_path.open("ab")
        t0 = time.perf_counter()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "HOME": str(self.root)},
            )
        finally:
            log.close()
        deadline = t0 + wait
        async with httpx.AsyncClient(timeout=1) as probe:
            while time.perf_counter() < deadline:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"host exited {self.proc.returncode}:\n{self.log()[-3000:]}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await probe.get(self.url + "/healthz")).json().get("ok"):
                        self.start_seconds = time.perf_counter() - t0
                        self.spy = await profile.record(
                            self.proc.pid, f"{self.root.name}-{self.name}-{self.port}"
                        )
                        return
                await asyncio.sleep(0.002)  # polling a process we cannot get an event from
        raise RuntimeError(f"host not healthy after {wait}s:\n{self.log()[-3000:]}")

    async def stop(self) -> None:
        await self.http.aclose()
        await profile.finish(self.spy)
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await asyncio.wait_for(proc.wait(), 10)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def rss_kib(self) -> int:
        return rss_kib(self.pid)

    def cpu_seconds(self) -> float:
        """CPU time (user + system) the host process itself has used, its children not counted."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    # ---- API ---------------------------------------------------------------------------------
    async def push(
        self,
        client: httpx.AsyncClient | None,
        flow: str,
        form: str = "go",
        values: dict[str, Any] | None = None,
    ) -> str:
        """Trigger data trigger `form` of `flow`; the new run's id."""
        body = {"Ref": {"ID": flow, "Ver": 1}, "Form": {"ID": form, "Values": values or {}}}
        r = await (client or self.http).post(BASE + "/push/data", json=body)
        if r.status_code != 202:
            raise RuntimeError(f"trigger {flow}: {r.status_code} {r.text}")
        run_id: str = r.json()["run_id"]
        return run_id

    async def run(self, flow: str, run_id: str) -> dict[str, Any]:
        r = await self.http.get(f"{BASE}/flows/{flow}/runs/{run_id}")
        r.raise_for_status()
        doc: dict[str, Any] = r.json()
        return doc

    @contextlib.asynccontextmanager
    async def events(self, **filters: str) -> AsyncIterator[ClientConnection]:
        """A websocket on `/ws` with the given query filters (`flow=`, `run=`, `tags=`)."""
        query = "&".join(f"{k}={v}" for k, v in filters.items())
        async with connect(
            f"ws://127.0.0.1:{self.port}/ws?{query}",
            additional_headers=AUTH,
            open_timeout=30,
            max_queue=None,
            max_size=None,
        ) as ws:
            yield ws


async def next_event(ws: ClientConnection, timeout: float) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), timeout))
    return event


async def wait_ended(
    ws: ClientConnection, run_ids: Iterable[str], timeout: float
) -> dict[str, dict[str, Any]]:
    """Read `sys.end.all` events from `ws` until every run in `run_ids` has ended; their events."""
    want = set(run_ids)
    ended: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + timeout
    while want - ended.keys():
        e = await next_event(ws, max(0.01, deadline - time.monotonic()))
        if e["tag"] == "sys.end.all" and e["run_id"] in want:
            ended[e["run_id"]] = e
    return ended


Arrival = tuple[float, dict[str, Any]]  # (client's time.time() on receipt, event)


@contextlib.asynccontextmanager
async def arrivals(ws: ClientConnection) -> AsyncIterator[asyncio.Queue[Arrival]]:
    """A queue of `ws`'s events, each stamped as it arrives by a reader task of its own (so the
    stamps are right while the caller awaits a POST)."""
    queue: asyncio.Queue[Arrival] = asyncio.Queue()

    async def read() -> None:
        while True:
            e = await next_event(ws, 600)
            queue.put_nowait((time.time(), e))

    reading = asyncio.create_task(read())
    try:
        yield queue
    finally:
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)


async def first_start(arrived: asyncio.Queue[Arrival], run_id: str) -> Arrival:
    """Run `run_id`'s first `sys.node.start`, once the run has ended good (RuntimeError otherwise)."""
    start: Arrival | None = None
    while True:
        received, e = await asyncio.wait_for(arrived.get(), 30)
        if e["run_id"] != run_id:
            continue
        if e["tag"] == "sys.node.start" and start is None:
            start = received, e
        if e["tag"] == "sys.end.all":
            if e["opts"]["status"] != "good" or start is None:
                raise RuntimeError(f"{run_id} ended {e['opts']}")
            return start
