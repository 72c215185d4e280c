"""Attacks that worked on a live host: sessions outliving their role, redelivered webhooks, payload
clone URLs, and secrets in trigger values; each against a real `floe` process."""

from __future__ import annotations

import httpx

from floe.server.passwords import hash_password
from tests.conftest import HostFactory
from tests.support.host import BASE, FloeHost

USERS = """
common:
  workspace-root: {{root}}/ws
  store-root: {{root}}/store
  users:
{users}
flows:
  - id: f
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: done, listen: trigger.good, type: end}}
"""


def _users(**roles: str) -> str:
    return USERS.format(
        users="\n".join(
            f'    - {{name: {n}, role: {r}, password: "{hash_password(n + "-pw")}"}}'
            for n, r in roles.items()
        )
    )


def _login(host: FloeHost, user: str) -> httpx.Client:
    client = httpx.Client(base_url=host.url + BASE, timeout=10)
    host.extra_clients.append(client)
    r = client.post("/login", json={"user": user, "password": f"{user}-pw"})
    assert r.status_code == 200, r.text
    return client


def _reload(host: FloeHost, config: str) -> None:
    host.conf.write_text(config.replace("{root}", str(host.root)))
    r = host.post("/config/reload")
    assert r.status_code == 200, r.text


def test_a_reload_demotes_and_removes_users_sessions_at_once(floe_host: HostFactory) -> None:
    host = floe_host(_users(ada="admin", otto="operator"))
    ada, otto = _login(host, "ada"), _login(host, "otto")
    assert ada.post("/stop", json={"reason": "before"}).status_code == 200
    assert ada.post("/go", json={}).status_code == 200
    assert (
        otto.post("/push/data", json={"Ref": {"ID": "f", "Ver": 1}, "Form": {"ID": "go"}}).status_code == 202
    )

    _reload(host, _users(ada="viewer"))  # ada demoted, otto removed
    demoted = ada.post("/stop", json={"reason": "after"})
    assert demoted.status_code == 403 and "ada (viewer)" in demoted.json()["error"], demoted.text
    assert ada.get("/flows").status_code == 200  # still a viewer
    gone = otto.get("/flows")
    assert gone.status_code == 401, gone.text
    _reload(host, _users(ada="viewer", otto="operator"))
    assert (
        otto.get("/flows").status_code == 401
    )  # the removed user's session died; re-adding him does not revive it
    assert _login(host, "otto").get("/flows").status_code == 200
