"""docs/examples/provision-certificates.yml, run for real against a stand-in certificate service."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import HostFactory
from tests.support.host import BASE

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "provision-certificates.yml"


class CertificateService:
    """Issues a certificate per POST /certificates (201) and takes POST /notify; keeps each request."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, str], Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                doc = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                outer.seen.append((self.path, dict(self.headers), doc))
                body = json.dumps({"serial": len(outer.seen), **doc}).encode()
                self.send_response(201 if self.path == "/certificates" else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"


@pytest.fixture
def ca() -> Iterator[CertificateService]:
    s = CertificateService()
    thread = threading.Thread(target=s.httpd.serve_forever, daemon=True)
    thread.start()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()
    thread.join(10)


def config(ca: CertificateService) -> str:
    text = EXAMPLE.read_text().replace("http://127.0.0.1:8099", ca.url)
    return text.replace("workspace-root: ~/.floe", "workspace-root: {root}/ws\n  store-root: {root}/store")


def test_certificates_are_issued_per_domain_after_sign_off(
    floe_host: HostFactory, ca: CertificateService
) -> None:
    host = floe_host(config(ca), env={"FLOE_CA_TOKEN": "ca-token-123"})
    officer = httpx.Client(base_url=host.url + BASE)
    host.extra_clients.append(officer)
    assert officer.post("/login", json={"user": "sec-officer", "password": "change-me"}).status_code == 200
    domains = ["a.example.org", "b.example.org", "c.example.org"]
    run_id = host.trigger("provision-certificates", "request", {"domains": domains, "owner": "ops"})
    host.wait_run("provision-certificates", run_id, want={"waiting"})
    body = {
        "Ref": {"ID": "provision-certificates", "Ver": 1},
        "Run": run_id,
        "Form": {"ID": "approval", "Values": {"verdict": "approve"}},
    }
    assert officer.post("/push/data", json=body).status_code == 200
    run = host.wait_run("provision-certificates", run_id)
    assert run["status"] == "good", run
    issued = [doc for path, _, doc in ca.seen if path == "/certificates"]
    assert sorted(d["domain"] for d in issued) == domains and {d["days"] for d in issued} == {"90"}
    assert {h["Authorization"] for p, h, _ in ca.seen if p == "/certificates"} == {"Bearer ca-token-123"}
    (note,) = [doc for path, _, doc in ca.seen if path == "/notify"]
    assert note == {"to": "ops", "approved_by": "sec-officer"}
    summary = host.node_log("provision-certificates", run_id, "summary")
    assert "issued 3 of 3 for ops" in summary
    assert "ca-token-123" not in json.dumps(run)
