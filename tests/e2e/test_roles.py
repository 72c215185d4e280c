"""Users and roles through a real host: viewers read, operators run things, admins steer."""

from __future__ import annotations

import httpx
import pytest

from floe.server.passwords import hash_password
from tests.conftest import HostFactory
from tests.support.host import BASE, FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  users:
    - {name: vera, role: viewer, password: "VERA"}
    - {name: otto, role: operator, password: "OTTO"}
    - {name: ada, role: admin, password: "ADA"}
flows:
  - id: f
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: gate, listen: trigger.good, type: data, opts: {form: {title: Go, fields: [{id: ok}]}}}
"""


@pytest.fixture
def host(floe_host: HostFactory) -> FloeHost:
    conf = CONF
    for name in ("VERA", "OTTO", "ADA"):
        conf = conf.replace(f'"{name}"', f'"{hash_password(name.lower() + "-pw")}"')
    return floe_host(conf)


def session(host: FloeHost, user: str) -> httpx.Client:
    client = httpx.Client(base_url=host.url + BASE)
    host.extra_clients.append(client)
    r = client.post("/login", json={"user": user, "password": f"{user}-pw"})
    assert r.status_code == 200 and r.json()["role"] in ("viewer", "operator", "admin"), r.text
    return client


def test_each_role_can_do_what_it_may_and_no_more(host: FloeHost) -> None:
    vera, otto, ada = (session(host, u) for u in ("vera", "otto", "ada"))
    push = {"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "go", "Values": {}}}
    assert vera.get("/flows").status_code == 200
    denied = vera.post("/push/data", json=push)
    assert denied.status_code == 403 and denied.json()["role"] == "operator"
    run_id = otto.post("/push/data", json=push).json()["run_id"]
    host.wait_run("f", run_id, want={"waiting"})
    assert vera.post(f"/flows/f/runs/{run_id}/cancel").status_code == 403
    assert otto.post("/stop", json={"reason": "x"}).status_code == 403
    assert otto.post("/config/reload").status_code == 403
    assert ada.post("/stop", json={"reason": "maintenance"}).status_code == 200
    assert ada.post("/go", json={}).status_code == 200
    assert otto.post(f"/flows/f/runs/{run_id}/cancel").status_code == 202
    assert host.wait_run("f", run_id)["status"] == "cancelled"
    assert vera.get("/p2p/hello").status_code == 403
    trail = {(e["by"], e["action"]) for e in ada.get("/audit").json()["entries"]}
    assert {("otto", "trigger"), ("otto", "cancel"), ("ada", "stop"), ("vera", "login")} <= trail


def test_bad_passwords_and_plain_text_passwords(host: FloeHost, floe_host: HostFactory) -> None:
    anon = httpx.Client(base_url=host.url + BASE)
    host.extra_clients.append(anon)
    assert anon.post("/login", json={"user": "otto", "password": "nope"}).status_code == 401
    assert anon.post("/login", json={"user": "nobody", "password": "x"}).status_code == 401
    assert "nope" not in host.log()
    import subprocess
    import sys

    bad = host.root / "plain.yml"
    bad.write_text("common:\n  users:\n    - {name: eve, password: hunter2}\nflows: []\n")
    out = subprocess.run([sys.executable, "-m", "floe", "lint", str(bad)], capture_output=True, text=True)
    assert out.returncode == 1 and "plain.yml:3: common.users[0].password" in out.stdout
