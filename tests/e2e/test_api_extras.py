"""OpenAPI checked against real answers, Prometheus metrics, login sessions, and the pages' basics."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from floe.server.routes import starlette_routes
from tests.support.host import BASE, TOKEN, FloeHost, wait_for

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: quick
    name: Quick
    ver: 1
    triggers:
      - id: go
        type: data
        opts:
          form:
            fields:
              - {id: n, prompt: Count, type: int, default: 1}
              - {id: who, type: string, regex: "[a-z]+"}
              - {id: os, type: choice, options: [linux, darwin]}
              - {id: fast, type: bool}
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {shell: 'echo one'}}
      - {id: fail, listen: task.a.good, type: exec, ignore-fail: true, opts: {shell: 'exit 3'}}
      - {id: m, class: merge, type: all, wait: [task.a.good, task.fail.good]}
      - id: gate
        listen: merge.m.good
        type: data
        opts: {form: {fields: [{id: ok, type: bool, required: true}]}}
  - id: slow
    ver: 1
    triggers: [{id: go, type: data, opts: {form: {fields: []}}}]
    tasks:
      - {id: nap, listen: trigger.good, type: exec, opts: {shell: 'sleep 60'}}
"""

Json = Any


@pytest.fixture
def host(floe_host: Callable[..., FloeHost]) -> FloeHost:
    return floe_host(CONFIG)


# ---- a small JSON Schema check: the subset openapi.py uses ------------------------------------
def check(value: Json, schema: Json, doc: Json, where: str = "$") -> list[str]:
    """Problems of `value` against `schema` ($ref, type, enum, properties, required,
    additionalProperties, items); an empty list when it conforms."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return check(value, doc["components"]["schemas"][name], doc, where)
    problems: list[str] = []
    types = schema.get("type")
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        if not any(_is(value, t) for t in allowed):
            return [f"{where}: {value!r} is not {allowed}"]
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{where}: {value!r} not in {schema['enum']}")
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for key in schema.get("required", []):
            if key not in value:
                problems.append(f"{where}: missing {key!r}")
        extra = schema.get("additionalProperties", True)
        for key, v in value.items():
            if key in props:
                problems += check(v, props[key], doc, f"{where}.{key}")
            elif extra is False:
                problems.append(f"{where}: unexpected {key!r}")
            elif isinstance(extra, dict):
                problems += check(v, extra, doc, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, v in enumerate(value):
            problems += check(v, schema["items"], doc, f"{where}[{i}]")
    return problems


def _is(value: Json, t: str) -> bool:
    return {
        "object": isinstance(value, dict),
        "array": isinstance(value, list),
        "string": isinstance(value, str),
        "integer": isinstance(value, int) and not isinstance(value, bool),
        "number": isinstance(value, int | float) and not isinstance(value, bool),
        "boolean": isinstance(value, bool),
        "null": value is None,
    }[t]


def test_the_checker_catches_mismatches() -> None:
    doc = {
        "components": {
            "schemas": {"A": {"type": "object", "required": ["x"], "properties": {"x": {"type": "integer"}}}}
        }
    }
    assert check({"x": 1}, {"$ref": "#/components/schemas/A"}, doc) == []
    assert check({"x": "1"}, {"$ref": "#/components/schemas/A"}, doc) == ["$.x: '1' is not ['integer']"]
    assert check({}, {"$ref": "#/components/schemas/A"}, doc) == ["$: missing 'x'"]
    assert check([True], {"type": "array", "items": {"type": "integer"}}, doc) != []


def _route_paths(routes: list[BaseRoute], prefix: str) -> set[tuple[str, str]]:
    out: set[tuple[str, str]] = set()
    for r in routes:
        if isinstance(r, Route):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", r.path)  # `{path:path}` is `{path}` in OpenAPI
            for m in r.methods or {"GET"}:
                if m != "HEAD":
                    out.add((prefix + path, m.lower()))
        elif isinstance(r, WebSocketRoute):
            out.add((prefix + r.path, "get"))
        elif isinstance(r, Mount):
            out.add((prefix + r.path + "/{path}", "*"))
    return out


def test_openapi_describes_every_route(host: FloeHost) -> None:
    doc = host.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    paths = doc["paths"]
    declared = _route_paths(starlette_routes("base"), BASE) | _route_paths(starlette_routes("root"), "")
    p2p = {(path, method) for path, method in declared if path.startswith(f"{BASE}/p2p/")}
    assert p2p, "the host-to-host routes are declared too"
    for path, method in sorted(declared - p2p):
        assert path in paths, f"{path} is not in openapi.json"
        if method != "*":
            assert method in paths[path], f"{method.upper()} {path} is not in openapi.json"
    assert not any(path in paths for path, _ in p2p), "host-to-host routes are not published"
    for path_item in paths.values():
        for op in path_item.values():
            for response in op["responses"].values():
                for media in response.get("content", {}).values():
                    assert check({}, {"type": "object"}, doc) == []  # schemas resolve below
                    if "$ref" in media["schema"]:
                        name = media["schema"]["$ref"].rsplit("/", 1)[-1]
                        assert name in doc["components"]["schemas"]


def test_real_answers_match_the_schemas(host: FloeHost) -> None:
    doc = host.get("/openapi.json").json()

    def conforms(resp: httpx.Response, path: str, method: str = "get") -> Json:
        op = doc["paths"][path][method]
        assert str(resp.status_code) in op["responses"], f"{method} {path}: {resp.status_code} undocumented"
        content = op["responses"][str(resp.status_code)].get("content", {})
        body = resp.json() if "application/json" in content else resp.text
        if "application/json" in content:
            problems = check(body, content["application/json"]["schema"], doc)
            assert problems == [], f"{method} {path} {resp.status_code}: {problems}\n{body}"
        return body

    run_path = f"{BASE}/flows/{{flow}}/runs/{{run}}"
    conforms(host.http.get("/healthz"), "/healthz")
    conforms(host.get("/flows"), f"{BASE}/flows")
    conforms(host.get("/flows/quick"), f"{BASE}/flows/{{flow}}")
    conforms(host.get("/flows/nope"), f"{BASE}/flows/{{flow}}")
    bad = host.push("quick", "go", {"n": "many"})
    assert conforms(bad, f"{BASE}/push/data", "post")["field"] == "n"
    run_id = conforms(host.push("quick", "go", {"who": "me"}), f"{BASE}/push/data", "post")["run_id"]
    host.wait_run("quick", run_id, ("waiting",))
    conforms(host.get(f"/flows/quick/runs/{run_id}"), run_path)
    conforms(host.get("/flows/quick/runs?limit=1"), f"{BASE}/flows/{{flow}}/runs")
    conforms(host.get("/flows/quick/runs?limit=zero"), f"{BASE}/flows/{{flow}}/runs")
    log = host.get(f"/flows/quick/runs/{run_id}/nodes/a/log")
    assert conforms(log, run_path + "/nodes/{node}/log").endswith("\none\n")
    answered = host.push("quick", "gate", {"ok": "yes"}, run=run_id)
    conforms(answered, f"{BASE}/push/data", "post")
    done = host.wait_run("quick", run_id)
    assert conforms(host.get(f"/flows/quick/runs/{run_id}"), run_path)["status"] == done["status"] == "good"
    conforms(host.post(f"/flows/quick/runs/{run_id}/cancel"), run_path + "/cancel", "post")  # 409
    conforms(host.get("/flows/quick/runs"), f"{BASE}/flows/{{flow}}/runs")
    conforms(host.get("/hosts"), f"{BASE}/hosts")
    conforms(host.get("/stop"), f"{BASE}/stop")
    conforms(host.get("/audit?limit=5"), f"{BASE}/audit")
    conforms(host.get("/audit?flow=quick&user=admin"), f"{BASE}/audit")
    conforms(host.get("/runs?limit=2"), f"{BASE}/runs")
    conforms(host.get("/runs?limit=0"), f"{BASE}/runs")  # 400
    again = conforms(host.post(f"/flows/quick/runs/{run_id}/rerun"), run_path + "/rerun", "post")
    assert again["rerun_of"] == run_id
    slow = host.trigger("slow")
    host.wait_run("slow", slow, ("running",))
    conforms(host.post(f"/flows/slow/runs/{slow}/cancel"), run_path + "/cancel", "post")
    assert host.wait_run("slow", slow)["status"] == "cancelled"
    conforms(host.get(f"/flows/slow/runs/{slow}"), run_path)
    anonymous = httpx.get(host.url + BASE + "/flows")
    conforms(anonymous, f"{BASE}/flows")  # 401 {"error"}


def test_metrics_after_a_run(host: FloeHost) -> None:
    assert httpx.get(host.url + "/metrics").status_code == 401
    run_id = host.trigger("quick")
    host.wait_run("quick", run_id, ("waiting",))
    host.push("quick", "gate", {"ok": True}, run=run_id)
    host.wait_run("quick", run_id)
    text = host.http.get("/metrics").text
    assert host.http.get("/metrics").headers["content-type"].startswith("text/plain")

    def value(name: str, **labels: str) -> float:
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        pattern = "^" + re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
        m = re.search(pattern, text, re.MULTILINE)
        assert m, f"{name}{{{want}}} not in metrics:\n{text}"
        return float(m.group(1))

    assert value("floe_runs_triggered_total", flow="quick") == 1
    assert value("floe_runs_started_total", flow="quick") == 1
    assert value("floe_runs_ended_total", flow="quick", status="good") == 1
    assert value("floe_task_duration_seconds_count", flow="quick", result="good") == 2  # a and fail
    assert value("floe_task_duration_seconds_sum", flow="quick", result="good") > 0
    assert value("floe_runs_pending") == 0
    assert value("floe_runs_active") == 0
    # an idle hub has drained its queue, and the reader wait_run used has gone (its close lands later)
    for idle in ("floe_hub_queue_depth", "floe_websocket_clients"):
        zero = re.compile(rf"^{idle} 0(\.0)?$", re.MULTILINE)
        wait_for(lambda z=zero: z.search(host.http.get("/metrics").text), what=f"{idle} 0")
    assert host.get("/metrics").text.startswith("# HELP")


def _set_cookie(resp: httpx.Response) -> str:
    return "; ".join(v for k, v in resp.headers.multi_items() if k == "set-cookie")


def test_login_logout_and_cookie_flags(host: FloeHost) -> None:
    with httpx.Client(base_url=host.url + BASE) as anon:
        _login_logout(host, anon)


def _login_logout(host: FloeHost, anon: httpx.Client) -> None:
    ok = anon.post("/login", json={"user": "admin", "password": TOKEN})
    assert ok.status_code == 200 and ok.json() == {"user": "admin", "role": "admin"}
    flags = _set_cookie(ok).lower()
    assert "floe-sesh=" in flags and "httponly" in flags and "samesite=strict" in flags and "path=/" in flags
    assert "secure" not in flags  # plain http
    assert anon.get("/flows").status_code == 200  # the cookie works
    out = anon.post("/logout")
    assert out.status_code == 200
    assert "max-age=0" in _set_cookie(out).lower() or "expires=" in _set_cookie(out).lower()
    token = ok.cookies["floe-sesh"]
    assert httpx.get(host.url + BASE + "/flows", cookies={"floe-sesh": token}).status_code == 401
    # behind a TLS-terminating proxy on loopback (X-Forwarded-Proto), the cookie is Secure
    tls = anon.post(
        "/login", json={"user": "admin", "password": TOKEN}, headers={"X-Forwarded-Proto": "https"}
    )
    assert "secure" in _set_cookie(tls).lower()
    assert anon.post("/login", json={"user": "root", "password": TOKEN}).status_code == 401
    assert anon.post("/login", json={"user": "admin"}).status_code == 400
    assert (
        anon.post("/login", content=b"{not json", headers={"Content-Type": "application/json"}).status_code
        == 400
    )


def test_wrong_password_is_401_and_never_logged(host: FloeHost) -> None:
    secret = "hunter2-wrong-password-xyz"
    r = httpx.post(host.url + BASE + "/login", json={"user": "admin", "password": secret})
    assert r.status_code == 401 and r.json() == {"error": "user or password is wrong"}
    assert "set-cookie" not in r.headers
    host.stop()  # flush the log
    assert secret not in host.log()
    assert TOKEN not in host.log()


def test_a_session_survives_a_restart(host: FloeHost) -> None:
    token = httpx.post(host.url + BASE + "/login", json={"user": "admin", "password": TOKEN}).cookies[
        "floe-sesh"
    ]
    host.stop()
    host.start()
    assert httpx.get(host.url + BASE + "/flows", cookies={"floe-sesh": token}).status_code == 200


def test_no_cors_headers(host: FloeHost) -> None:
    origin = {"Origin": "https://evil.example"}
    for resp in (
        host.http.get(BASE + "/flows", headers=origin),
        host.http.options(BASE + "/flows", headers={**origin, "Access-Control-Request-Method": "POST"}),
        host.http.get("/app/dash", headers=origin),
    ):
        assert not [k for k in resp.headers if k.lower().startswith("access-control-")], resp.headers


def test_pages_static_assets_and_redirects(host: FloeHost) -> None:
    with httpx.Client(base_url=host.url) as anon:
        _anonymous_pages(anon)
    _pages(host)


def _anonymous_pages(anon: httpx.Client) -> None:
    root = anon.get("/")
    assert root.status_code == 302 and root.headers["location"] == "/app/dash"
    page = anon.get("/app/flows/quick?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/app/login?next=/app/flows/quick%3Fx%3D1"
    login = anon.get("/app/login?next=//evil.example/")
    assert login.status_code == 200 and 'data-next="/app/dash"' in login.text
    assert "default-src 'self'" in login.headers["content-security-policy"]
    icon = anon.get("/favicon.ico")
    assert icon.status_code == 200 and icon.headers["content-type"] == "image/svg+xml"
    css = anon.get("/static/floe.css")
    assert css.status_code == 200 and css.headers["cache-control"] == "no-cache"
    assert anon.get("/static/js/main.js").headers["content-type"].startswith("text/javascript")


def _pages(host: FloeHost) -> None:
    authed = host.http
    dash = authed.get("/app/dash")
    assert dash.status_code == 200 and 'data-page="dash"' in dash.text
    assert authed.get("/app/flows/nope").status_code == 404
    assert authed.get("/app/flows/quick/runs/h1-999").status_code == 404
    assert authed.get("/app/elsewhere").status_code == 404
    html = authed.get("/app/flows/quick").text
    assert "<script>" not in html and "Quick" in html
