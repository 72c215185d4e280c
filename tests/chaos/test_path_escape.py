"""Paths that try to leave the run's workspace are refused with a clear node error; the host runs on.
(A relative `sub-dir` or `location` with `..` in a flow file is already a load error; form values
named like these opts are data, never opts.)"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import HostFactory
from tests.support.host import FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-type: local
  store-root: {root}/store
flows:
  - id: form-subdir
    ver: 1
    triggers:
      - {id: go, type: data, opts: {form: {fields: [{id: sub-dir, type: string}]}}}
    tasks:
      - {id: escape, listen: trigger.good, type: exec, opts: {cmd: "touch pwned"}}
  - id: form-location
    ver: 1
    triggers:
      - {id: go, type: data, opts: {form: {fields: [{id: location, type: string}]}}}
    tasks:
      - {id: escape, listen: trigger.good, type: fetch, opts: {url: "URL"}}
  - id: location-absolute
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: escape, listen: trigger.good, type: fetch, opts: {url: "URL", location: /etc/x}}
  - id: fetch-absolute
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: escape, listen: trigger.good, type: fetch, opts: {url: "URL", location: "{root}/outside/x"}}
  - id: symlink-subdir
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: link, listen: trigger.good, type: exec, opts: {shell: "ln -s {root}/outside out"}}
      - {id: escape, listen: task.link.good, type: exec, opts: {cmd: "touch pwned", sub-dir: out/deeper}}
  - id: symlink-location
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: link, listen: trigger.good, type: exec, opts: {shell: "ln -s .. up"}}
      - {id: escape, listen: task.link.good, type: fetch, opts: {url: "URL", location: up/x}}
  - id: inside
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: ok, listen: trigger.good, type: exec, opts: {cmd: "touch fine", sub-dir: a/b}}
"""


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    """A loopback HTTP server with one small file, so a fetch would succeed if it were let through."""
    served = tmp_path / "served"
    served.mkdir()
    (served / "payload.txt").write_text("payload\n")
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(served))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/payload.txt"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def outside_files(root: Path) -> list[Path]:
    """What the escapes could have written: anything in `outside`, any `pwned` or `x` out of a workspace."""
    ws = root / "ws"
    found = list((root / "outside").rglob("*"))
    for name in ("pwned", "x"):
        found += [p for p in root.rglob(name) if ws not in p.parents]
    return found


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("location-absolute", {}, "location /etc/x escapes the workspace"),
    ("fetch-absolute", {}, "/outside/x escapes the workspace"),
    ("symlink-subdir", {}, "sub-dir out/deeper escapes the workspace"),
    ("symlink-location", {}, "location up/x escapes the workspace"),
]

VALUE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("form-subdir", {"sub-dir": "../.."}),
    ("form-subdir", {"sub-dir": "/etc"}),
    ("form-location", {"location": "/etc/x"}),
    ("form-location", {"location": "../../x"}),
]


@pytest.mark.timeout(120)
def test_escapes_are_refused_and_the_host_keeps_running(
    floe_host: HostFactory, file_server: str, tmp_path: Path
) -> None:
    root = tmp_path / "h1"
    (root / "outside").mkdir(parents=True)
    host: FloeHost = floe_host(CONF.replace("URL", file_server), process=True)
    runs = [(flow, host.trigger(flow, values=values), want) for flow, values, want in CASES]
    for flow, run_id, want in runs:
        r = host.wait_run(flow, run_id)
        node = next(n for n in r["nodes"] if n["id"] == "escape")
        log = host.node_log(flow, run_id, "escape")
        assert r["status"] == "bad" and node["result"] == "error", (flow, r)
        assert want in log and want in node["reason"], (flow, log, node)
    # form values named like the path opts are data, never opts: the tasks run in their workspace
    for flow, values in VALUE_CASES:
        assert host.wait_run(flow, host.trigger(flow, values=values))["status"] == "good", flow
    assert outside_files(root) == []
    good = host.trigger("inside")
    assert host.wait_run("inside", good)["status"] == "good"  # a path inside still works
    assert host.http.get("/healthz").json()["ok"] is True
    print(
        f"\nchaos path escapes: {len(runs)} refused, {len(VALUE_CASES)} form values kept as data,"
        " nothing written outside the workspaces"
    )
