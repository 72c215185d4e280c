"""Attacks on the HTTP edge of a real host: huge and deep bodies, lone surrogates, cross-site
requests from another port, login guessing and open redirects after login."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.conftest import HostFactory
from tests.support.host import BASE, TOKEN, FloeHost, free_port
from tests.support.inprocess import InProcessHost

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: note
    ver: 1
    triggers:
      - id: go
        type: data
        opts: {form: {fields: [{id: note, type: string}]}}
      - {id: hook, type: webhook}
    tasks:
      - {id: hold, listen: trigger.good, type: data, opts: {form: {fields: [{id: ok, type: bool}]}}}
      - {id: done, listen: task.hold.good, type: end}
"""
JSON = {"Content-Type": "application/json"}
DEEP = b'{"user": ' + b"[" * 1000 + b"]" * 1000 + b', "password": "x"}'


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FloeHost]:
    h = InProcessHost(tmp_path_factory.mktemp("edge"), CONF)
    try:
        yield h.start()
    finally:
        h.stop()
        for client in (h.http, *h.extra_clients):
            client.close()


def raw_request(host: FloeHost, head: str, body: bytes = b"") -> tuple[int, bytes]:
    """Send `head` (request line and headers) and `body` on a socket of our own; the status and the
    answer (read until the host closes or 10 s pass)."""
    with socket.create_connection(("127.0.0.1", host.port), timeout=10) as s:
        s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = s.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            pass
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer[9:12]), answer


def cookie_client(host: FloeHost) -> httpx.Client:
    """A client logged in with the session cookie, as a browser is."""
    client = httpx.Client(base_url=host.url)
    host.extra_clients.append(client)
    r = client.post(BASE + "/login", json={"user": "admin", "password": TOKEN}, headers={"Origin": host.url})
    assert r.status_code == 200, r.text
    return client


# ---- 4: body size -------------------------------------------------------------------------------
def test_a_login_body_announced_as_100_mb_is_413_without_being_read(host: FloeHost) -> None:
    head = f"POST {BASE}/login HTTP/1.1\nHost: 127.0.0.1:{host.port}\nContent-Type: application/json\n"
    status, answer = raw_request(host, head + "Content-Length: 104857600\n")
    assert status == 413, answer  # before: the host waited for (and buffered) all 100 MB
    assert b"larger than 1048576 bytes" in answer


def test_a_chunked_body_past_the_limit_is_413(host: FloeHost) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: httpx sends it chunked
        yield b'{"user": "admin", "password": "'
        for _ in range(24):
            yield b"x" * 65536
        yield b'"}'

    r = httpx.post(host.url + BASE + "/login", content=chunks(), headers=JSON, timeout=10)
    assert r.status_code == 413, r.text  # before: read whole, then 401
    assert r.json() == {"error": "body larger than 1048576 bytes"}
    assert host.http.get("/healthz").json()["ok"] is True


def test_the_limit_is_the_common_max_body_key(floe_host: HostFactory) -> None:
    h = floe_host(CONF.replace("common:\n", "common:\n  max-body: 4096\n"))
    note = {"Ref": {"ID": "note", "Ver": 1}, "Form": {"ID": "go", "Values": {"note": "n" * 3000}}}
    assert h.post("/push/data", note).status_code == 202
    note["Form"]["Values"] = {"note": "n" * 5000}  # type: ignore[index]
    r = h.post("/push/data", note)
    assert r.status_code == 413 and r.json() == {"error": "body larger than 4096 bytes"}
    # a webhook may still carry a push payload of GitHub's size
    r = h.post("/push/webhook/note/hook", {"ref": "refs/heads/main", "after": "a" * 40, "pad": "p" * 100_000})
    assert r.status_code == 202, r.text


# ---- 5: deep nesting ----------------------------------------------------------------------------
@pytest.mark.parametrize("path", ["/login", "/push/data", "/stop", "/p2p/runs", "/push/webhook/note/hook"])
def test_deeply_nested_json_is_400_with_no_traceback(host: FloeHost, path: str) -> None:
    r = host.http.post(BASE + path, content=DEEP, headers=JSON)
    assert r.status_code == 400, r.text  # before: 500, and a 7 KB traceback in the log per request
    assert "nests deeper than 64 levels" in r.json()["error"]
    assert "Traceback" not in host.log()


def test_json_nested_beyond_the_limit_but_not_the_interpreter_is_400(host: FloeHost) -> None:
    values = {"note": "ok", "deep": json.loads("[" * 80 + "]" * 80)}
    r = host.post("/push/data", {"Ref": {"ID": "note", "Ver": 1}, "Form": {"ID": "go", "Values": values}})
    assert r.status_code == 400 and "deeper than 64" in r.json()["error"]


# ---- 6: lone surrogates -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "values",
    [
        rb'{"note": "\ud800"}',  # a JSON escape of half a pair
        b'{"note": "\xed\xa0\x80"}',  # the same surrogate as raw (CESU-8) bytes
        rb'{"\udfff": "key"}',
        rb'{"note": "ok", "x": [{"y": ["\udbff"]}]}',
    ],
)
def test_a_value_that_is_not_unicode_is_400_and_runs_stay_readable(host: FloeHost, values: bytes) -> None:
    body = b'{"Ref": {"ID": "note", "Ver": 1}, "Form": {"ID": "go", "Values": ' + values + b"}}"
    r = host.http.post(BASE + "/push/data", content=body, headers=JSON)
    assert r.status_code == 400, r.text  # before: 202, then the run's detail answered 500 for good
    assert "lone surrogate" in r.json()["error"]
    for run in host.get("/flows/note/runs").json()["pending"] + host.get("/flows/note/runs").json()["active"]:
        assert host.get(f"/flows/note/runs/{run['run_id']}").status_code == 200


def test_a_stop_reason_that_is_not_unicode_is_400_and_the_audit_trail_stays(host: FloeHost) -> None:
    r = host.http.post(BASE + "/stop", content=rb'{"flow": "note", "reason": "\ud800"}', headers=JSON)
    assert r.status_code == 400, r.text  # before: stopped, and /audit answered 500 from then on
    assert host.get("/audit").status_code == 200
    assert host.get("/stop").json() == {"stopped": {}}


def test_an_answer_that_is_not_unicode_is_400(host: FloeHost) -> None:
    run_id = host.trigger("note", "go", {"note": "fine"})
    host.wait_run("note", run_id, ["waiting"])
    body = {"Ref": {"ID": "note", "Ver": 1}, "Run": run_id, "Form": {"ID": "hold", "Values": {"ok": True}}}
    raw = json.dumps(body).replace('"ok": true', '"ok": true, "why": "\\ud800"').encode()
    r = host.http.post(BASE + "/push/data", content=raw, headers=JSON)
    assert r.status_code == 400, r.text
    assert host.get(f"/flows/note/runs/{run_id}").status_code == 200
    assert host.push("note", "hold", {"ok": True}, run=run_id).status_code == 200
    assert host.wait_run("note", run_id)["status"] == "good"


# ---- 7: cross-site requests ---------------------------------------------------------------------
def test_a_page_on_another_port_cannot_trigger_runs_with_the_cookie(host: FloeHost) -> None:
    browser = cookie_client(host)
    other = f"http://127.0.0.1:{free_port()}"  # same site (the cookie is sent), another origin
    push = {"Ref": {"ID": "note", "Ver": 1}, "Form": {"ID": "go", "Values": {}}}
    for origin in (other, "null", f"http://localhost:{host.port}", f"https://127.0.0.1:{host.port}"):
        r = browser.post(BASE + "/push/data", json=push, headers={"Origin": origin})
        assert r.status_code == 403, (origin, r.text)  # before: 202, a run started as the operator
        assert "not this host's origin" in r.json()["error"]
    for path in ("/stop", "/logout", "/flows/note/runs/h1-1/cancel", "/push/webhook/note/hook"):
        assert browser.post(BASE + path, json={}, headers={"Origin": other}).status_code == 403, path
    # the dashboard's own origin (as its scripts send it), and scripts without any Origin, work
    assert browser.post(BASE + "/push/data", json=push, headers={"Origin": host.url}).status_code == 202
    assert host.post("/push/data", push).status_code == 202


def test_a_json_body_sent_as_a_form_or_text_is_415(host: FloeHost) -> None:
    browser = cookie_client(host)
    body = json.dumps({"Ref": {"ID": "note", "Ver": 1}, "Form": {"ID": "go", "Values": {}}})
    for kind in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""):
        headers = {"Content-Type": kind} if kind else {}
        r = browser.post(BASE + "/push/data", content=body, headers=headers)
        assert r.status_code == 415, (kind, r.text)  # before: 202 (a form on any site could post it)
    r = host.http.post(
        BASE + "/push/data", content=body, headers={"Content-Type": "application/json; charset=utf-8"}
    )
    assert r.status_code == 202, r.text


def test_the_event_stream_refuses_a_handshake_from_another_origin(host: FloeHost) -> None:
    cookie = {"Cookie": f"floe-sesh={cookie_client(host).cookies['floe-sesh']}"}
    url = f"ws://127.0.0.1:{host.port}/ws"
    other = Origin(f"http://127.0.0.1:{free_port()}")
    with pytest.raises(InvalidStatus) as refused, connect(url, origin=other, additional_headers=cookie):
        pass  # before: accepted, and every live event went to the other page
    assert refused.value.response.status_code == 403
    with connect(url, origin=Origin(host.url), additional_headers=cookie) as ws:
        run_id = host.trigger("note", "go", {})
        assert json.loads(ws.recv(timeout=10))["run_id"] == run_id  # the dashboard's own page works


def test_a_configured_origin_is_accepted(floe_host: HostFactory) -> None:
    h = floe_host(CONF.replace("common:\n", "common:\n  allowed-origins: [https://ci.example.com]\n"))
    push = {"Ref": {"ID": "note", "Ver": 1}, "Form": {"ID": "go", "Values": {}}}
    assert h.post("/push/data", push, headers={"Origin": "https://ci.example.com"}).status_code == 202
    assert h.post("/push/data", push, headers={"Origin": "https://ci.example.com:8443"}).status_code == 403


# ---- 13: login throttling -----------------------------------------------------------------------
def test_guessing_the_admin_token_is_throttled_and_audited(floe_host: HostFactory) -> None:
    h = floe_host(CONF)
    anon = httpx.Client(base_url=h.url + BASE)
    h.extra_clients.append(anon)
    guesses = [anon.post("/login", json={"user": "admin", "password": f"guess-{i}"}) for i in range(10)]
    assert [r.status_code for r in guesses] == [401] * 10
    r = anon.post("/login", json={"user": "admin", "password": TOKEN})
    assert r.status_code == 429, r.text  # before: 59 guesses a second, each a 401, and then a 200
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    assert "too many failed logins" in r.json()["error"]
    assert "set-cookie" not in r.headers
    failed = [e for e in h.get("/audit").json()["entries"] if e["action"] == "login-failed"]
    assert len(failed) == 10 and {e["by"] for e in failed} == {"admin"}
    assert failed[0]["detail"] == "from 127.0.0.1"
    h.stop()  # flush the log
    assert "failed login as 'admin' from 127.0.0.1" in h.log()
    assert "guess-" not in h.log()


def test_guessing_many_users_from_one_address_is_throttled(floe_host: HostFactory) -> None:
    h = floe_host(CONF)
    anon = httpx.Client(base_url=h.url + BASE)
    h.extra_clients.append(anon)
    codes = [anon.post("/login", json={"user": f"u{i}", "password": "x"}).status_code for i in range(21)]
    assert codes == [401] * 20 + [429]
    assert anon.post("/login", json={"user": "admin", "password": TOKEN}).status_code == 429
    assert h.get("/flows").status_code == 200  # the admin token in X-Floe-Auth is not a login


# ---- 14: open redirect after login --------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    [
        "/%09/127.0.0.1:1/",
        "/%0a/127.0.0.1:1/",
        "/%0d%0a/x",
        "//127.0.0.1:1/",
        "/%5C127.0.0.1:1/",
        "%5C%5C127.0.0.1:1",
        "http://127.0.0.1:1/",
        "javascript:alert(1)",
        "/app/%20/x",
        "%09/app/dash",
    ],
)
def test_login_follows_only_same_origin_paths(host: FloeHost, target: str) -> None:
    page = httpx.get(f"{host.url}/app/login?next={target}")
    assert page.status_code == 200
    nxt = re.search(r'data-next="([^"]*)"', page.text)
    assert nxt is not None and nxt.group(1) == "/app/dash", nxt  # before: "/\t/127.0.0.1:1/" for the first


def test_login_keeps_a_path_of_this_host(host: FloeHost) -> None:
    page = httpx.get(f"{host.url}/app/login", params={"next": "/app/flows/note?x=1"})
    assert 'data-next="/app/flows/note?x=1"' in page.text
