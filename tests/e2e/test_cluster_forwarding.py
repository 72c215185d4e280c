"""Two real hosts: a public request about a run the other host executes is that host's own answer,
sent on for the same user (same status, same body), with the user's role checked and audited."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from floe.server.passwords import hash_password
from tests.e2e.test_roles import session
from tests.support.host import BASE, FloeHost, cluster_hosts, start_cluster, stop_all

CONF = """
common:
  hosts: [{hosts}]
  workspace-root: {root}/ws
  store-root: {root}/store
  users:
    - {name: vera, role: viewer, password: "VERA"}
    - {name: otto, role: operator, password: "OTTO"}
flows:
  - id: gate
    ver: 1
    host-tags: [special]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: first, listen: trigger.good, type: exec, opts: {shell: "echo first"}}
      - id: ok
        listen: task.first.good
        type: data
        opts: {form: {title: Approve, fields: [{id: approver, type: string, required: true}]}}
      - {id: done, listen: task.ok.good, type: end}
"""


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[FloeHost, FloeHost]]:
    conf = CONF
    for name in ("vera", "otto"):
        conf = conf.replace(f'"{name.upper()}"', f'"{hash_password(name + "-pw")}"')
    hosts = cluster_hosts(tmp_path, conf, ["linux", "linux,special"])
    try:
        start_cluster(hosts)
        yield hosts[0], hosts[1]
    finally:
        stop_all(hosts)


def same_answer(h1: FloeHost, h2: FloeHost, method: str, path: str, body: object = None) -> httpx.Response:
    """`method path` sent to the exec host and to the other one: the same status and body."""
    here = h2.http.request(method, BASE + path, json=body)
    there = h1.http.request(method, BASE + path, json=body)
    assert (there.status_code, there.text) == (here.status_code, here.text), f"{method} {path}"
    return there


def test_a_request_sent_on_gets_the_exec_hosts_own_answer(pair: tuple[FloeHost, FloeHost]) -> None:
    h1, h2 = pair
    run_id = h1.trigger("gate")
    assert h2.wait_run("gate", run_id, ("waiting",))["exec_host"] == "h2"
    run = f"/flows/gate/runs/{run_id}"

    log = same_answer(h1, h2, "GET", f"{run}/nodes/first/log")
    assert log.status_code == 200 and log.text.endswith("\nfirst\n")
    assert log.headers["content-type"].startswith("text/plain")
    missing = same_answer(h1, h2, "GET", f"{run}/nodes/nope/log")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    early = same_answer(h1, h2, "POST", f"{run}/rerun")
    assert early.status_code == 409 and "has not ended" in early.json()["error"]
    bad = {"Ref": {"ID": "gate"}, "Run": run_id, "Form": {"ID": "ok", "Values": {"other": "x"}}}
    refused = same_answer(h1, h2, "POST", "/push/data", bad)
    assert refused.status_code == 400 and "gives none of its fields" in refused.json()["error"]
    assert same_answer(h1, h2, "GET", f"/runs/{run_id}").json()["exec_host"] == "h2"

    answer = {"Ref": {"ID": "gate"}, "Run": run_id, "Form": {"ID": "ok", "Values": {"approver": "me"}}}
    assert h1.post("/push/data", answer).json() == {"run_id": run_id, "ok": True}
    assert h2.wait_run("gate", run_id)["status"] == "good"
    again = same_answer(h1, h2, "POST", "/push/data", answer)
    assert again.status_code == 404 and "is not active on h2" in again.json()["error"]
    ended = same_answer(h1, h2, "POST", f"{run}/cancel")
    assert ended.status_code == 409 and "already ended" in ended.json()["error"]
    never = same_answer(h1, h2, "POST", f"{run}/rerun?from=nope")
    assert never.status_code == 400 and never.json()["field"] == "from"


def test_the_user_is_checked_here_and_audited_there(pair: tuple[FloeHost, FloeHost]) -> None:
    h1, h2 = pair
    run_id = h1.trigger("gate")
    h2.wait_run("gate", run_id, ("waiting",))
    vera = session(h1, "vera")
    denied = vera.post(f"/flows/gate/runs/{run_id}/cancel")
    assert denied.status_code == 403 and "vera (viewer)" in denied.json()["error"]
    assert vera.get(f"/flows/gate/runs/{run_id}/nodes/first/log").text.endswith("\nfirst\n")

    otto = session(h1, "otto")
    assert otto.post(f"/flows/gate/runs/{run_id}/cancel").status_code == 202
    assert h2.wait_run("gate", run_id)["status"] == "cancelled"
    entries = h2.get("/audit?flow=gate&user=otto").json()["entries"]
    assert [e["action"] for e in entries if e["run_id"] == run_id and e["host"] == "h2"] == ["cancel"]
