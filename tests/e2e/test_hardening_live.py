"""Attacks that worked on a live host: sessions outliving their role, redelivered webhooks, payload
clone URLs, and secrets in trigger values; each against a real `floe` process."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

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


HOOKS = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: hooked
    ver: 1
    triggers:
      - {id: signed, type: webhook, opts: {secret: hook-secret, url: "https://git.example/ours.git"}}
      - {id: bare, type: webhook, opts: {secret: hook-secret}}
    tasks:
      - {id: done, listen: trigger.good, type: end}
"""
PAYLOADS = Path(__file__).parent / "payloads"  # the forges' published examples, unchanged


def _signed(name: str, forge: str, delivery: str) -> tuple[bytes, dict[str, str]]:
    body = (PAYLOADS / f"{name}.payload.json").read_bytes()
    sig = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    headers = {
        "github": {
            "X-GitHub-Event": "push",
            "X-Hub-Signature-256": f"sha256={sig}",
            "X-GitHub-Delivery": delivery,
        },
        "gitea": {"X-Gitea-Event": "push", "X-Gitea-Signature": sig, "X-Gitea-Delivery": delivery},
        "gitlab": {
            "X-Gitlab-Event": "Push Hook",
            "X-Gitlab-Token": "hook-secret",
            "X-Gitlab-Event-UUID": delivery,
        },
    }[forge]
    return body, {"Content-Type": "application/json", **headers}


def test_a_redelivered_webhook_starts_no_second_run_even_after_a_restart(floe_host: HostFactory) -> None:
    host = floe_host(HOOKS)
    anon = httpx.Client(base_url=host.url + BASE, timeout=10)
    host.extra_clients.append(anon)
    cases = [
        ("github-push-with-new-branch", "github", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        ("gitea-push", "gitea", "f6266f16-1bf3-46a5-9ea4-602e06ead473"),
        ("gitlab-push-hook", "gitlab", "1a2b3c4d-0000-4000-8000-00000000abcd"),
    ]
    first: dict[str, str] = {}
    for name, forge, delivery in cases:
        body, headers = _signed(name, forge, delivery)
        r = anon.post("/push/webhook/hooked/signed", content=body, headers=headers)
        assert r.status_code == 202 and r.json()["started"] is True, r.text
        first[forge] = r.json()["run_id"]
        again = anon.post("/push/webhook/hooked/signed", content=body, headers=headers)
        assert again.status_code == 200, again.text
        assert again.json() == {"started": False, "duplicate": True, "run_id": first[forge]}
    host.stop()
    host.start()
    for name, forge, delivery in cases:
        body, headers = _signed(name, forge, delivery)
        r = anon.post("/push/webhook/hooked/signed", content=body, headers=headers)
        assert r.status_code == 200 and r.json()["run_id"] == first[forge], r.text
    body, headers = _signed("github-push-with-new-branch", "github", "another-delivery")
    r = anon.post("/push/webhook/hooked/signed", content=body, headers=headers)
    assert r.status_code == 202 and r.json()["started"] is True, r.text  # a new delivery of the same push
    runs = host.get("/flows/hooked/runs").json()
    assert len([*runs["pending"], *runs["active"], *runs["archive"]]) == 4


def test_a_payloads_clone_url_does_not_replace_the_configured_url(floe_host: HostFactory) -> None:
    host = floe_host(HOOKS)
    for trigger, url in (
        ("signed", "https://git.example/ours.git"),
        ("bare", "https://github.com/Codertocat/Hello-World.git"),
    ):
        body, headers = _signed("github-push-with-new-branch", "github", f"d-{trigger}")
        r = host.http.post(f"{BASE}/push/webhook/hooked/{trigger}", content=body, headers=headers)
        assert r.status_code == 202, r.text
        values = host.wait_run("hooked", r.json()["run_id"])["values"]
        assert values["url"] == url, values
        assert values["repo"] == "https://github.com/Codertocat/Hello-World.git"
