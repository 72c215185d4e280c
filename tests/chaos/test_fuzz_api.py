"""Hypothesis against a real host: random methods, paths, queries and bodies on every route; no 5xx."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute
from websockets.exceptions import InvalidStatus, WebSocketException
from websockets.sync.client import connect

from floe.server import app, pages
from floe.server.routes import starlette_routes
from tests.chaos.support import examples
from tests.conftest import HostFactory
from tests.support.host import BASE, TOKEN, FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-type: local
  store-root: {root}/store
flows:
  - id: fz
    ver: 1
    triggers:
      - id: go
        type: data
        opts:
          form:
            title: Go
            fields:
              - {id: branch, type: string, regex: "[a-z0-9/_-]+", default: main}
              - {id: jobs, type: int, default: 1}
              - {id: fast, type: bool}
              - {id: target, type: choice, options: [linux, darwin]}
    tasks:
      - id: approve
        listen: trigger.good
        type: data
        opts:
          form:
            title: Approve
            fields: [{id: ok, type: bool, required: true}, {id: note, type: string}]
      - {id: work, listen: task.approve.good, type: exec, opts: {cmd: "true"}}
      - {id: done, listen: task.work.good, type: end}
  - id: plain
    ver: 2
    triggers: [{id: start, type: data}]
    tasks:
      - {id: hold, listen: trigger.good, type: data, opts: {form: {fields: [{id: x, type: int}]}}}
"""
JSON = {"Content-Type": "application/json"}
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")
SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _flatten(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, frozenset[str]]]:
    for r in routes:
        if isinstance(r, Mount):
            yield from _flatten(list(r.routes), prefix + r.path)
        elif isinstance(r, Route):
            yield prefix + r.path, frozenset(r.methods or {"GET"})
        elif isinstance(r, WebSocketRoute):
            yield prefix + r.path, frozenset({"WS"})


def route_table() -> list[tuple[str, frozenset[str]]]:
    """Every route the host serves (read from the route table, so new routes are fuzzed too)."""
    top: list[BaseRoute] = [
        *starlette_routes("root"),
        Mount(BASE, routes=starlette_routes("base")),
        *pages.page_routes(),
    ]
    merged: dict[str, set[str]] = {}
    for path, methods in _flatten(top):
        merged.setdefault(path, set()).update(methods)
    return sorted((p, frozenset(m)) for p, m in merged.items())


ROUTES = route_table()
HTTP_ROUTES = [(p, m) for p, m in ROUTES if m != {"WS"}]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
known = st.sampled_from(
    ["fz", "plain", "h1-1", "h1-2", "h1-3", "h1-99999", "go", "start", "approve", "work", "done", "hold"]
)
hostile = st.sampled_from(
    ["..", ".", "%2e%2e", "../../etc/passwd", "a" * 600, "\u202e", "h1-", "-1", "0", "*", "null", "\x00"]
)
segment = st.one_of(known, hostile, st.text(min_size=1, max_size=24))
query_keys = st.sampled_from(["limit", "before", "after", "run", "flow", "tags", "from", "x"]) | st.text(
    max_size=8
)
query_values = st.one_of(
    st.text(max_size=24),
    st.integers().map(str),
    st.floats().map(repr),
    st.sampled_from(["", "-1", "0", "1e308", "nan", "inf", "50", "500", "501", "h1-1"]),
)
queries = st.dictionaries(query_keys, query_values, max_size=4)
bodies = st.one_of(st.none(), json_values, st.binary(max_size=300), st.text(max_size=100).map(str.encode))


def _host(root: Path) -> Iterator[FloeHost]:
    h = FloeHost(root, CONF)
    try:
        h.start()
        for _ in range(3):  # runs for the fuzzer to find: h1-1 … h1-3, waiting on the approve gate
            h.trigger("fz")
        yield h
    finally:
        h.stop()
        h.http.close()


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FloeHost]:
    yield from _host(tmp_path_factory.mktemp("fuzz"))


@pytest.fixture(scope="module")
def p2p_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FloeHost]:
    """A host of its own: a malformed pend accepted from a 'peer' can wedge its dispatch."""
    yield from _host(tmp_path_factory.mktemp("fuzz-p2p"))


def fill(path: str, values: list[str]) -> str:
    """`path` with each `{param}` replaced by the next value, percent-encoded as one segment."""
    it = iter(values)
    return PARAM.sub(lambda m: quote(next(it, "x"), safe=""), path)


def check(r: httpx.Response, what: str) -> None:
    assert r.status_code < 500, f"{what} -> {r.status_code} {r.text[:500]}"
    if r.status_code >= 400 and r.request.method != "HEAD" and r.request.url.path.startswith(BASE + "/"):
        assert r.headers.get("content-type", "").startswith("application/json"), what
        assert isinstance(r.json().get("error"), str), f"{what} -> {r.text[:300]}"


def send(
    host: FloeHost, method: str, path: str, query: dict[str, str], body: Any, auth: bool = True
) -> httpx.Response:
    headers = JSON if auth else {**JSON, "X-Floe-Auth": ""}
    url = path + ("?" + urlencode(query) if query else "")
    if isinstance(body, bytes):
        return host.http.request(method, url, content=body, headers=headers)
    if body is None:
        return host.http.request(method, url, headers=headers)
    return host.http.request(method, url, content=json.dumps(body).encode(), headers=headers)


@pytest.mark.timeout(240)
@pytest.mark.parametrize("route", HTTP_ROUTES, ids=[p for p, _ in HTTP_ROUTES])
@settings(SETTINGS, max_examples=examples(12))  # per route: each one of them is fuzzed, every run
@given(
    method=st.sampled_from(METHODS) | st.just("ROUTE"),
    params=st.lists(segment, min_size=4, max_size=4),
    query=queries,
    body=bodies,
    auth=st.sampled_from([True, True, True, False]),
)
def test_any_route_any_input(
    host: FloeHost,
    route: tuple[str, frozenset[str]],
    method: str,
    params: list[str],
    query: dict[str, str],
    body: Any,
    auth: bool,
) -> None:
    path, methods = route
    if method == "ROUTE":  # mostly the route's own methods, where the handlers are
        method = sorted(methods)[0]
    url = fill(path, params)
    check(send(host, method, url, query, body, auth), f"{method} {url} {query} {body!r:.200}")


push_bodies = st.fixed_dictionaries(
    {},
    optional={
        "Ref": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {"ID": st.one_of(st.sampled_from(["fz", "plain", "nope"]), json_values)},
                optional={"Ver": st.one_of(st.sampled_from([0, 1, 2, 3, -1, 2**70]), json_values)},
            ),
        ),
        "Run": st.one_of(st.sampled_from(["h1-1", "h1-2", "h1-3", "h1-404", ""]), json_values),
        "Form": st.one_of(
            json_values,
            st.fixed_dictionaries(
                {
                    "ID": st.one_of(
                        st.sampled_from(["go", "start", "approve", "hold", "work", ""]), json_values
                    )
                },
                optional={
                    "Values": st.one_of(
                        json_values,
                        st.dictionaries(
                            st.sampled_from(["branch", "jobs", "fast", "target", "ok", "note", "x", "zz"]),
                            json_values
                            | st.sampled_from(["yes", "no", "12", "linux", "BAD BRANCH", "a" * 5000]),
                            max_size=5,
                        ),
                    )
                },
            ),
        ),
    },
)


@pytest.mark.timeout(240)
@settings(SETTINGS, max_examples=examples(250))
@given(body=push_bodies)
def test_push_data_bodies(host: FloeHost, body: dict[str, Any]) -> None:
    r = host.http.post(BASE + "/push/data", content=json.dumps(body).encode(), headers=JSON)
    check(r, f"push {body!r:.300}")
    assert r.status_code in (200, 202, 400, 401, 403, 404, 409, 422, 503), r.text


RUN_DOC = {
    "run_id": "h9-1",
    "flow": "fz",
    "ver": 1,
    "phase": "pending",
    "created": 1.0,
    "status": "pending",
    "exec_host": "",
    "trigger": "go",
    "values": {},
    "started": None,
    "ended": None,
    "reason": "",
    "seq": 1,
    "nodes": [],
    "snapshot": {"id": "fz", "ver": 1, "triggers": [], "tasks": []},
}


def run_doc_mutations() -> st.SearchStrategy[Any]:
    """Run documents as hosts exchange them, with one key dropped or replaced by a random value."""

    def mutate(key: str, value: Any, drop: bool) -> dict[str, Any]:
        doc = dict(RUN_DOC)
        if drop:
            doc.pop(key, None)
        else:
            doc[key] = value
        return doc

    return st.builds(mutate, st.sampled_from(sorted(RUN_DOC)), json_values, st.booleans()) | json_values


@pytest.mark.timeout(240)
@settings(SETTINGS, max_examples=examples(100))
@given(doc=run_doc_mutations(), path=st.sampled_from(["/p2p/runs", "/p2p/locks", "/p2p/runs/h1-1/ended"]))
def test_host_to_host_bodies(p2p_host: FloeHost, doc: Any, path: str) -> None:
    r = p2p_host.http.post(BASE + path, content=json.dumps(doc).encode(), headers=JSON)
    check(r, f"POST {path} {doc!r:.300}")


def test_a_malformed_pend_from_a_peer_does_not_wedge_the_host(floe_host: HostFactory) -> None:
    h = floe_host(CONF, process=True)
    doc = {**RUN_DOC, "run_id": None}
    assert h.post("/p2p/runs", doc).status_code == 400
    r = h.push("fz", "go")
    assert r.status_code == 202, r.text


@pytest.mark.timeout(120)
@settings(SETTINGS, max_examples=150)
@given(query=queries, auth=st.booleans())
def test_websocket_queries(host: FloeHost, query: dict[str, str], auth: bool) -> None:
    url = f"ws://127.0.0.1:{host.port}/ws" + ("?" + urlencode(query) if query else "")
    headers = {"X-Floe-Auth": TOKEN} if auth else {}
    try:
        with connect(url, additional_headers=headers, open_timeout=10, close_timeout=2):
            pass
    except InvalidStatus as e:
        assert e.response.status_code < 500, f"{url}: {e.response.status_code}"
    except WebSocketException:
        pass  # closed by the host after the handshake (e.g. 4401): an answer, not a crash


def test_the_host_is_healthy_after_the_fuzzing(host: FloeHost) -> None:
    t = time.monotonic()
    assert host.http.get("/healthz").json()["ok"] is True
    assert time.monotonic() - t < 2
    assert host.http.post(BASE + "/go", json={}).status_code == 200  # the fuzzer may have hit /stop
    run_id = host.trigger("fz")
    answer = host.push("fz", "approve", {"ok": True, "note": "fine"}, run=run_id)
    assert answer.status_code == 200, answer.text
    assert host.wait_run("fz", run_id)["status"] == "good"
    log = host.log()
    assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]
    print(
        f"\nchaos fuzz: {len(ROUTES)} routes, host healthy; log {len(log.splitlines())} lines, no traceback"
    )


def test_every_route_is_fuzzed() -> None:
    paths = {p for p, _ in ROUTES}
    assert {"/healthz", f"{BASE}/push/data", f"{BASE}/flows/{{flow}}/runs/{{run}}/cancel", "/ws"} <= paths
    assert Path(app.__file__).name == "app.py"
