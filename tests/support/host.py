"""A real `floe` host process on a free loopback port, driven over HTTP; stopped by its PID."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import ConnectionClosed

from tests.support import stream

TOKEN = "test-admin-token"
BASE = "/build/api"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class FloeHost:
    """Starts `python -m floe` with a config written under `root`; every call has a deadline."""

    def __init__(
        self,
        root: Path,
        config: str,
        *,
        name: str = "h1",
        tags: str = "linux",
        port: int | None = None,
        extra: Iterable[str] = (),
        env: Mapping[str, str] | None = None,
        command: Sequence[str] = (sys.executable, "-m", "floe"),
        token: str = TOKEN,
        token_arg: bool = True,
    ) -> None:
        self.root, self.name, self.tags, self.token = root, name, tags, token
        self.command = list(command)  # how to start floe: this interpreter's, or an installed `floe`
        self.token_arg = token_arg  # False: the test gives the token some other way (--admin-file)
        self.env = dict(env or {})  # added to the host's environment
        self.port = port or free_port()
        self.extra = list(extra)
        root.mkdir(parents=True, exist_ok=True)
        self.conf = root / f"{name}.yml"
        self.conf.write_text(config.replace("{root}", str(root)).replace("{port}", str(self.port)))
        self.log_path = root / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.http = httpx.Client(base_url=self.url, headers={"X-Floe-Auth": token}, timeout=10)
        self.extra_clients: list[httpx.Client] = []  # closed with the host

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, wait: float = 30.0) -> FloeHost:
        argv = [
            *self.command,
            f"-conf={self.conf}",
            f"-host_name={self.name}",
            *([f"-admin={self.token}"] if self.token_arg else []),
            f"-tags={self.tags}",
            f"-pub_bind=127.0.0.1:{self.port}",
            *self.extra,
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "HOME": str(self.root), **self.env},
            )
        deadline = time.monotonic() + wait
        with httpx.Client(timeout=1) as probe:  # one client: each httpx.get() costs ~50 ms of CPU
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"host {self.name} exited {self.proc.returncode}:\n{self.log()}")
                try:
                    if probe.get(self.url + "/healthz").json().get("ok"):
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.02)  # polling a process we cannot get an event from
        raise RuntimeError(f"host {self.name} not healthy after {wait}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5)

    def kill9(self) -> None:
        self.stop(signal.SIGKILL)

    # ---- API -----------------------------------------------------------------------------
    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.http.get(BASE + path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        return self.http.post(BASE + path, json=body, **kw)

    def push(
        self, flow: str, form: str, values: dict[str, Any] | None = None, run: str = "", ver: int = 1
    ) -> httpx.Response:
        body: dict[str, Any] = {"Ref": {"ID": flow, "Ver": ver}, "Form": {"ID": form, "Values": values or {}}}
        if run:
            body["Run"] = run
        return self.post("/push/data", body)

    def trigger(self, flow: str, form: str = "go", values: dict[str, Any] | None = None) -> str:
        r = self.push(flow, form, values)
        assert r.status_code == 202, r.text
        run_id: str = r.json()["run_id"]
        return run_id

    def run(self, flow: str, run_id: str) -> dict[str, Any]:
        r = self.get(f"/flows/{flow}/runs/{run_id}")
        assert r.status_code == 200, r.text
        doc: dict[str, Any] = r.json()
        return doc

    def events(self, run_id: str, deadline: float) -> Iterator[dict[str, Any]]:
        """The run's events from this host's stream (replay, then live), reconnecting after `after`
        when the host closes it (the run moved to another host); TimeoutError at `deadline`."""
        after = 0
        while True:
            with stream.events(self, run=run_id, after=after) as ws:
                try:
                    while True:
                        e = stream.recv(ws, deadline)
                        after = max(after, e["seq"])
                        yield e
                except ConnectionClosed:
                    pass

    def wait_run(
        self,
        flow: str,
        run_id: str,
        want: Iterable[str] = ("good", "bad", "cancelled"),
        timeout: float = 30.0,
    ) -> dict[str, Any]:
        """Follow the run's event stream until its status is one of `want`."""
        want = set(want)
        deadline = time.monotonic() + timeout
        last = self.run(flow, run_id)
        try:
            for _ in self.events(run_id, deadline):
                if last["status"] in want:
                    break
                last = self.run(flow, run_id)
        except TimeoutError:
            pass
        if last["status"] in want or (last := self.run(flow, run_id))["status"] in want:
            return last
        raise TimeoutError(f"{flow}/{run_id} not {want} after {timeout}s: {last}\n{self.log()[-3000:]}")

    def wait_line(self, run_id: str, node: str, match: Callable[[str], bool], timeout: float = 20.0) -> str:
        """The first log line of `node` that `match`es, from the run's event stream."""
        for e in self.events(run_id, time.monotonic() + timeout):
            for line in e["opts"].get("lines") or ():
                if e["source_node"] == node and match(line):
                    return str(line)
        raise AssertionError("unreachable: events() ends only by TimeoutError")

    def node_log(self, flow: str, run_id: str, node: str) -> str:
        r = self.get(f"/flows/{flow}/runs/{run_id}/nodes/{node}/log")
        assert r.status_code == 200, r.text
        return r.text


def wait_for(cond: Callable[[], object], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll state held by other processes (there is no event to wait on) until `cond()` holds."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"{what} not met in {timeout}s"
        time.sleep(0.05)


def cluster_hosts(
    root: Path, config: str, tags: Sequence[str], kind: type[FloeHost] = FloeHost
) -> list[FloeHost]:
    """Hosts h1, h2, … (one for each entry of `tags`, not started) sharing `config`, in which
    `{hosts}` becomes the list of all their URLs; `kind` InProcessHost serves them in this process."""
    ports = [free_port() for _ in tags]
    config = config.replace("{hosts}", ", ".join(f"http://127.0.0.1:{p}" for p in ports))
    return [
        kind(root / f"h{i}", config, name=f"h{i}", tags=t, port=p)
        for i, (t, p) in enumerate(zip(tags, ports, strict=True), start=1)
    ]


def start_cluster(hosts: Sequence[FloeHost]) -> None:
    """Start every host, then wait until each one sees all of them online."""
    for h in hosts:
        h.start()
    wait_for(
        lambda: all(x["online"] for h in hosts for x in h.get("/hosts").json()["hosts"]),
        what="each host sees every host online",
    )


def stop_all(hosts: Iterable[FloeHost]) -> None:
    """Stop every host by PID (resuming one a test left SIGSTOPped) and close its clients."""
    for h in hosts:
        if h.proc is not None and h.proc.poll() is None:
            os.kill(h.proc.pid, signal.SIGCONT)
        h.stop()
        for client in (h.http, *h.extra_clients):
            client.close()
