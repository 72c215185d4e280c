"""The http task against a real HTTP server on 127.0.0.1, and exec outputs, on a real host."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.support.host import FloeHost


class Service:
    """A small JSON service: `/ok`, `/fail` (500), `/flaky` (503 once, then 200), `/slow` (answers
    only when released), `/moved` (302 to /ok). Keeps every request it was sent."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()
        self.flaky_calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                size = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(size).decode() if size else ""
                outer.requests.append(
                    {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
                )
                if self.path == "/ok":
                    self._send(200, {"id": 42, "echo": body})
                elif self.path == "/fail":
                    self._send(500, {"error": "boom"})
                elif self.path == "/flaky":
                    outer.flaky_calls += 1
                    self._send(503 if outer.flaky_calls == 1 else 200, {"call": outer.flaky_calls})
                elif self.path == "/slow":
                    outer.release.wait(20)
                    self._send(200, {"late": True})
                elif self.path == "/moved":
                    self.send_response(302)
                    self.send_header("Location", "/ok")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._send(404, {"error": "no such path"})

            do_GET = do_POST = _answer

            def _send(self, status: int, doc: dict[str, Any]) -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def service() -> Iterator[Service]:
    s = Service()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield s
    finally:
        s.release.set()
        s.httpd.shutdown()
        s.httpd.server_close()
        thread.join(10)


CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: call
    ver: 1
    triggers:
      - {id: go, type: data, opts: {form: {fields: []}}}
    tasks:
      - id: post
        listen: trigger.good
        type: http
        opts:
          method: POST
          url: "SERVICE/ok"
          headers: {X-Trace: abc}
          json: {name: floe}
      - id: version
        listen: task.post.good
        type: exec
        opts:
          shell: |
            echo "version=1.2.3" >> "$FLOE_OUTPUT"
            printf 'notes<<END\\nline one\\nline two\\nEND\\n' >> "$FLOE_OUTPUT"
  - id: fail
    ver: 1
    triggers:
      - {id: go, type: data, opts: {form: {fields: []}}}
    tasks:
      - {id: call, listen: trigger.good, type: http, opts: {url: "SERVICE/fail"}}
  - id: flaky
    ver: 1
    triggers:
      - {id: go, type: data, opts: {form: {fields: []}}}
    tasks:
      - {id: call, listen: trigger.good, type: http, retries: 2, opts: {url: "SERVICE/flaky"}}
  - id: slow
    ver: 1
    triggers:
      - {id: go, type: data, opts: {form: {fields: []}}}
    tasks:
      - {id: call, listen: trigger.good, type: http, opts: {url: "SERVICE/slow", timeout: 0.5}}
  - id: moved
    ver: 1
    triggers:
      - {id: go, type: data, opts: {form: {fields: []}}}
    tasks:
      - {id: stay, listen: trigger.good, type: http, opts: {url: "SERVICE/moved", expect: [3xx]}}
      - {id: follow, listen: task.stay.good, type: http, opts: {url: "SERVICE/moved", follow-redirects: true}}
"""


@pytest.fixture
def host(floe_host: Callable[..., FloeHost], service: Service) -> FloeHost:
    return floe_host(CONFIG.replace("SERVICE", service.url))


def node(run: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in run["nodes"] if n["id"] == node_id)


def test_a_good_call_keeps_status_headers_and_json_and_exec_publishes_outputs(
    host: FloeHost, service: Service
) -> None:
    run = host.wait_run("call", host.trigger("call"))
    assert run["status"] == "good", run
    post = node(run, "post")["outputs"]
    assert post["status"] == 200 and post["json"]["id"] == 42
    assert post["headers"]["content-type"] == "application/json"
    (sent,) = service.requests
    assert sent["method"] == "POST" and sent["headers"]["X-Trace"] == "abc"
    assert json.loads(sent["body"]) == {"name": "floe"}
    assert sent["headers"]["Content-Type"] == "application/json"
    assert node(run, "version")["outputs"] == {"version": "1.2.3", "notes": "line one\nline two"}
    assert "200 OK" in host.node_log("call", run["run_id"], "post")


def test_an_unexpected_status_is_a_bad_node(host: FloeHost) -> None:
    run = host.wait_run("fail", host.trigger("fail"))
    assert run["status"] == "bad"
    call = node(run, "call")
    assert call["result"] == "bad" and call["outputs"]["status"] == 500
    assert "not an expected status" in host.node_log("fail", run["run_id"], "call")


def test_a_retry_after_a_bad_status_succeeds(host: FloeHost, service: Service) -> None:
    run = host.wait_run("flaky", host.trigger("flaky"))
    assert run["status"] == "good", run
    call = node(run, "call")
    assert call["attempts"] == 2 and call["outputs"]["json"] == {"call": 2}
    assert service.flaky_calls == 2


def test_no_answer_in_time_is_an_error_with_the_reason(host: FloeHost, service: Service) -> None:
    run = host.wait_run("slow", host.trigger("slow"))
    service.release.set()
    assert run["status"] == "bad"
    call = node(run, "call")
    assert call["result"] == "error" and "no answer within 0.5s" in call["reason"]


def test_redirects_are_followed_only_when_asked(host: FloeHost, service: Service) -> None:
    run = host.wait_run("moved", host.trigger("moved"))
    assert run["status"] == "good", run
    assert node(run, "stay")["outputs"]["status"] == 302
    assert node(run, "follow")["outputs"]["status"] == 200
    assert [r["path"] for r in service.requests] == ["/moved", "/moved", "/ok"]
