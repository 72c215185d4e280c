"""Attacks that worked on a live host: sessions outliving their role, redelivered webhooks, payload
clone URLs, and secrets in trigger values; each against a real `floe` process."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
from pathlib import Path

import httpx

from floe.server.passwords import hash_password
from tests.chaos.support import run_events
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


SECRETS = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  secrets:
    TOK: {env: FLOE_HL_TOK}
    DEPLOY: {env: FLOE_HL_DEPLOY, flows: [deploy]}
flows:
  - id: deploy
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: use
        listen: trigger.good
        type: exec
        opts: {env: ["D=${secret:DEPLOY}"], shell: 'test -n "$D"'}
  - id: other
    ver: 1
    flow-file: other.yml
    triggers: [{id: go, type: data}]
  - id: form
    ver: 1
    triggers:
      - id: go
        type: data
        opts: {form: {fields: [{id: note, type: string}]}}
    tasks:
      - {id: say, listen: trigger.good, type: exec, opts: {cmd: 'true'}}
      - id: gate
        listen: task.say.good
        type: data
        opts: {form: {fields: [{id: answer, type: string, required: true}]}}
"""
TOK = "tok-5f0c1e9a7b3d4c2e8f6a"
DEPLOY = "dep-9a8b7c6d5e4f3a2b1c0d"


def test_trigger_values_and_gate_answers_holding_a_secret_are_masked(floe_host: HostFactory) -> None:
    unscoped = SECRETS.replace(", flows: [deploy]}", "}")
    host = floe_host(unscoped, env={"FLOE_HL_TOK": TOK, "FLOE_HL_DEPLOY": DEPLOY})
    run_id = host.trigger("form", "go", {"note": f"the token is {TOK}"})
    host.wait_run("form", run_id, ("waiting",))
    assert host.push("form", "gate", {"answer": TOK}, run=run_id).status_code == 200
    detail = host.wait_run("form", run_id)
    assert detail["status"] == "good", detail
    assert detail["values"]["note"] == "the token is ***", detail["values"]
    events = run_events(host, run_id)
    gate = next(e for e in events if e["tag"] == "task.gate.good")
    assert gate["opts"]["answer"] == "***", gate
    seen = [
        json.dumps(detail),
        json.dumps(host.get("/flows/form/runs").json()),
        json.dumps(host.get("/audit").json()),
        json.dumps(events),
        host.log(),
    ]
    assert [TOK in text for text in seen] == [False] * len(seen), [t[:300] for t in seen if TOK in t]


def test_a_secret_scoped_to_flows_reaches_only_their_runs(floe_host: HostFactory, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(
        SECRETS.replace("{root}", str(tmp_path)).replace(
            "    flow-file: other.yml\n    triggers: [{id: go, type: data}]\n",
            "    triggers: [{id: go, type: data}]\n"
            "    tasks:\n      - {id: t, listen: trigger.good, type: exec,\n"
            "         opts: {env: ['X=${secret:DEPLOY}'], cmd: 'true'}}\n",
        )
    )
    out = subprocess.run([sys.executable, "-m", "floe", "lint", str(bad)], capture_output=True, text=True)
    assert out.returncode == 1, out.stdout
    assert (
        "bad.yml:22: flows[1].tasks[0].opts.env[0]: secret 'DEPLOY' is not given to flow other" in out.stdout
    )

    host = floe_host(SECRETS, env={"FLOE_HL_TOK": TOK, "FLOE_HL_DEPLOY": DEPLOY})
    assert host.wait_run("deploy", host.trigger("deploy"))["status"] == "good"
    # a flow-file is read at trigger time: an out-of-scope secret there fails the node
    (host.root / "other.yml").write_text(
        "id: other\nver: 1\ntasks:\n"
        "  - {id: peek, listen: trigger.good, type: exec,\n"
        "     opts: {env: ['D=${secret:DEPLOY}'], shell: 'echo got $D'}}\n"
    )
    run = host.wait_run("other", host.trigger("other"))
    assert run["status"] == "bad", run
    assert DEPLOY not in host.log() and "got" not in host.node_log("other", run["run_id"], "peek")
