"""The route table against a real host: every declared route is called and its answer checked
against the schema it declares, every route the app serves is declared, bodies are checked by the
declared schemas, and the published OpenAPI document is the one generated from the table."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import jsonschema_rs
import pytest
from starlette.routing import Mount, Route, WebSocketRoute
from websockets.sync.client import connect

from floe.server import pages
from floe.server.openapi import document
from floe.server.routes import OPS, Op, starlette_routes
from floe.server.schemas import SCHEMAS
from tests.support.host import BASE, TOKEN, FloeHost

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  posted-flows: operator
flows:
  - id: quick
    ver: 1
    triggers:
      - {id: go, type: data, opts: {form: {fields: [{id: n, type: int, default: 1}]}}}
      - {id: hook, type: webhook}
      - {id: tick, type: timer, opts: {period: 3600}}
    tasks:
      - id: make
        listen: trigger.good
        type: exec
        artifacts: ["out.txt"]
        opts: {shell: "echo made > out.txt; echo one"}
      - id: gate
        listen: task.make.good
        type: data
        opts: {form: {fields: [{id: ok, type: bool, required: true}]}}
      - {id: done, listen: task.gate.good, type: end}
"""
POSTED = """
id: adhoc
tasks:
  - {id: say, listen: trigger.good, type: exec, opts: {shell: "echo posted"}}
"""
IMPLIED = {400, 401, 403, 413, 415}  # path ids, credentials, and the edge's refusals (guard.py)


def validate(op: Op, response: httpx.Response) -> None:
    """The answer is one `op` declares, its body of the declared schema."""
    status = response.status_code
    declared = {*op.answers, *op.errors, *IMPLIED}
    assert status in declared, f"{op.method} {op.path}: {status} is not declared: {response.text[:300]}"
    name = op.answers.get(status, "Error")
    kind = response.headers.get("content-type", "")
    if name == "text":
        assert kind.startswith("text/plain"), kind
    elif name == "binary":
        assert kind == "application/octet-stream", kind
    else:
        assert kind == "application/json", kind
        schema = {"type": "object"} if name == "any" else {"$ref": f"#/components/schemas/{name}"}
        problems = [
            f"{'.'.join(map(str, e.instance_path))}: {e.message}"
            for e in jsonschema_rs.validator_for({**schema, "components": {"schemas": SCHEMAS}}).iter_errors(
                response.json()
            )
        ]
        assert problems == [], f"{op.method} {op.path} {status}: {problems}\n{response.text[:500]}"


def op_of(method: str, path: str) -> Op:
    """The declared route that serves `method path` (path relative to the base, or at the root)."""
    for op in OPS:
        regex = re.sub(r"\{\w+:path\}", ".+", re.sub(r"\{\w+\}", "[^/]+", op.path))
        if op.method == method and re.fullmatch(regex, path.partition("?")[0]):
            return op
    raise AssertionError(f"{method} {path} is not a declared route")


class Caller:
    """Calls routes of a host and checks each answer; remembers which routes it called."""

    def __init__(self, host: FloeHost) -> None:
        self.host, self.called = host, set[tuple[str, str]]()

    def __call__(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        op = op_of(method, path)
        url = path if op.where == "root" else BASE + path
        if "content" not in kw and body is not None:
            kw["json"] = body
        response = self.host.http.request(method, url, **kw)
        validate(op, response)
        self.called.add((op.method, op.path))
        return response


@pytest.fixture
def host(floe_host: Callable[..., FloeHost]) -> FloeHost:
    return floe_host(CONFIG)


def test_every_declared_route_answers_as_declared(host: FloeHost) -> None:
    call = Caller(host)
    assert call("GET", "/healthz").json()["ok"] is True
    assert "floe_" in call("GET", "/metrics").text
    call("GET", "/openapi.json")
    call("POST", "/login", {"user": "admin", "password": TOKEN})
    call("POST", "/login", {"user": "admin", "password": "wrong"})
    call("GET", "/me")
    call("GET", "/flows")
    call("GET", "/flows/quick")
    call("GET", "/flows/nope")
    run_id = call("POST", "/push/data", {"Ref": {"ID": "quick"}, "Form": {"ID": "go"}}).json()["run_id"]
    call("POST", "/push/data", {"Ref": {"ID": "quick"}, "Form": {"ID": "go", "Values": {"n": "x"}}})
    host.wait_run("quick", run_id, ("waiting",))
    run = f"/flows/quick/runs/{run_id}"
    call("GET", run)
    call("GET", f"/runs/{run_id}")
    call("GET", "/runs/h1-999")
    call("GET", "/flows/quick/runs?limit=2")
    call("GET", "/runs?limit=2")
    assert "\none\n" in call("GET", f"{run}/nodes/make/log").text
    assert call("GET", f"{run}/artifacts/make/out.txt").content == b"made\n"
    call("POST", f"{run}/rerun")  # 409: it has not ended
    answer = {"Ref": {"ID": "quick"}, "Run": run_id, "Form": {"ID": "gate", "Values": {"ok": True}}}
    assert call("POST", "/push/data", answer).status_code == 200
    assert host.wait_run("quick", run_id)["status"] == "good"
    call("POST", f"{run}/cancel")  # 409: it ended
    rerun = call("POST", f"{run}/rerun?from=make").json()["run_id"]
    host.wait_run("quick", rerun, ("waiting",))
    assert call("POST", f"/flows/quick/runs/{rerun}/cancel").status_code == 202
    assert call("POST", "/flows/quick/triggers/tick/run", {}).status_code == 202
    push = json.dumps({"ref": "refs/heads/main", "after": "1" * 40, "repository": {"clone_url": "x"}})
    hook = call("POST", "/push/webhook/quick/hook", content=push, headers={"X-GitHub-Event": "push"})
    assert hook.status_code == 202 and hook.json()["started"] is True
    assert call("POST", "/runs", {"flow": POSTED, "values": {}}).status_code == 202
    call("GET", "/hosts")
    call("GET", "/audit?limit=5")
    call("POST", "/stop", {"flow": "quick", "reason": "test"})
    assert call("GET", "/stop").json()["stopped"] == {"quick": "test"}
    call("POST", "/go", {"flow": "quick"})
    call("POST", "/config/reload")
    call("POST", "/retention/run")
    with connect(
        f"ws://127.0.0.1:{host.port}{BASE}/ws?run={run_id}", additional_headers={"X-Floe-Auth": TOKEN}
    ) as ws:
        first = json.loads(ws.recv(timeout=10))
    problems = list(jsonschema_rs.validator_for(SCHEMAS["Event"]).iter_errors(first))
    assert first["run_id"] == run_id and problems == []
    call.called.add(("WS", "/ws"))
    # host-to-host, with the admin token
    assert call("GET", "/p2p/hello").json()["id"] == "h1"
    call("GET", "/p2p/active")
    call("POST", "/p2p/wake")
    call("POST", "/p2p/runs", {"run_id": "nope"})  # 400: not a pend
    call("POST", f"/p2p/runs/{run_id}/ended", {"status": "good", "ended": 1.0})
    call("POST", "/p2p/locks", {"run_id": "h1-900", "host": "h1", "tags": ["db"]})
    call("DELETE", "/p2p/locks/h1-900")
    call("POST", "/logout")

    declared = {(op.method, op.path) for op in OPS}
    assert declared - call.called == set(), "declared routes this test does not call"
    assert "Traceback" not in host.log()


def test_every_route_the_app_serves_is_declared() -> None:
    declared = {(op.method, op.path) for op in OPS}
    for where in ("base", "root"):
        for route in starlette_routes(where):
            assert isinstance(route, Route | WebSocketRoute)
            methods = (
                ["WS"] if isinstance(route, WebSocketRoute) else sorted((route.methods or set()) - {"HEAD"})
            )
            assert [(m, route.path) in declared for m in methods] == [True] * len(methods), route.path
    for route in pages.page_routes():  # the dashboard's pages and assets, declared in pages.py
        assert isinstance(route, Route | Mount)
        assert route.path.startswith(("/app", "/static")) or route.path in ("/", "/favicon.ico"), route.path


def test_the_app_serves_the_table_and_nothing_else(host: FloeHost) -> None:
    """A path no route declares is a 404 (the p2p mirrors of public routes are gone)."""
    for gone in ("/p2p/audit", "/p2p/runs/h1-1", "/p2p/flows/quick/runs"):
        assert host.get(gone).status_code == 404, gone
    assert host.post("/p2p/stop", {}).status_code in (404, 405)


def test_the_published_document_is_generated_from_the_table(host: FloeHost) -> None:
    assert host.get("/openapi.json").json() == json.loads(json.dumps(document(OPS, BASE)))
