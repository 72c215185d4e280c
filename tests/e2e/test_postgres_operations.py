"""Operations across two real `floe` host processes on one PostgreSQL database: a gate answered, a
run cancelled, an artifact downloaded and the stop switch pulled on h1 for what h2 holds, sent on to
h2 for the caller (role checked, audited as that user)."""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest

from floe.server.passwords import hash_password
from tests.conftest import HostFactory
from tests.support.host import BASE, FloeHost, wait_for

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  store-type: postgres
  store-url: {url}
  users:
    - {{name: vera, role: viewer, password: "{vera}"}}
    - {{name: otto, role: operator, password: "{otto}"}}
flows:
  - id: asked
    ver: 1
    host-tags: [special]
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: gate, listen: trigger.good, type: data, opts: {{form: {{fields: [{{id: ok, type: string}}]}}}}}}
      - id: boss
        listen: task.gate.good
        type: data
        opts: {{resolvers: {{role: admin}}, form: {{fields: [{{id: fine, type: string}}]}}}}
      - id: after
        listen: task.boss.good
        type: exec
        artifacts: [out.txt]
        opts: {{shell: 'echo "answered $FLOE_RUN_ID" > out.txt; echo answered in $PWD'}}
      - {{id: done, listen: task.after.good, type: end}}
  - id: slow
    ver: 1
    host-tags: [special]
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: hold
        listen: trigger.good
        type: exec
        opts: {{shell: 'echo holding; while [ ! -e {shared}/release ]; do sleep 0.05; done'}}
      - {{id: done, listen: task.hold.good, type: end}}
"""


def rows(url: str, sql: str) -> list[tuple[object, ...]]:
    with psycopg.connect(url) as db:
        return db.execute(sql.encode()).fetchall()


def two_hosts(tmp_path: Path, url: str, floe_host: HostFactory) -> tuple[FloeHost, FloeHost]:
    shared = tmp_path / "shared"
    shared.mkdir()
    hashes = {name: hash_password(f"{name}-pw") for name in ("vera", "otto")}
    conf = CONF.format(root="{root}", url=url, shared=shared, **hashes)
    h1 = floe_host(conf, name="h1", tags="linux", process=True)
    h2 = floe_host(conf, name="h2", tags="linux,special", process=True)
    wait_for(lambda: len(rows(url, "SELECT 1 FROM hosts WHERE lease_until > now()")) == 2, what="both leases")
    return h1, h2


def session(host: FloeHost, user: str) -> httpx.Client:
    client = httpx.Client(base_url=host.url + BASE, timeout=15)
    host.extra_clients.append(client)
    r = client.post("/login", json={"user": user, "password": f"{user}-pw"})
    assert r.status_code == 200, r.text
    return client


def answer(client: httpx.Client, run_id: str, gate: str, values: dict[str, str]) -> httpx.Response:
    body = {"Ref": {"ID": "asked", "Ver": 1}, "Run": run_id, "Form": {"ID": gate, "Values": values}}
    return client.post("/push/data", json=body)


def audited(host: FloeHost, flow: str, action: str, run_id: str) -> list[tuple[str, str]]:
    """Who did `action` to the run, and on which host, from the run's audit entries."""
    return [(e["by"], e["host"]) for e in host.run(flow, run_id)["audit"] if e["action"] == action]


def status(host: FloeHost, flow: str, run_id: str) -> str:
    return str(host.run(flow, run_id)["status"])


@pytest.mark.timeout(120)
def test_a_gate_of_a_run_h2_executes_is_answered_on_h1_for_the_user_who_answered(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    h1, h2 = two_hosts(tmp_path, pg_url, floe_host)
    rid = h1.trigger("asked")
    wait_for(lambda: status(h1, "asked", rid) == "waiting", what="the gate waiting on h2")
    assert h1.run("asked", rid)["exec_host"] == "h2"
    vera, otto = session(h1, "vera"), session(h1, "otto")
    denied = answer(vera, rid, "gate", {"ok": "yes"})
    assert denied.status_code == 403 and denied.json()["role"] == "operator", denied.text
    r = answer(otto, rid, "gate", {"ok": "yes"})
    assert r.status_code == 200, r.text
    wait_for(lambda: audited(h1, "asked", "answer", rid) == [("otto", "h2")], what="otto's answer")
    wait_for(
        lambda: [n["status"] for n in h1.run("asked", rid)["nodes"] if n["id"] == "boss"] == ["waiting"],
        what="the second gate waiting",
    )
    refused = answer(otto, rid, "boss", {"fine": "yes"})  # only an admin may answer it
    assert refused.status_code == 403 and "role admin" in refused.json()["error"], refused.text
    r = h1.push("asked", "boss", {"fine": "yes"}, run=rid)  # the admin, on h1
    assert r.status_code == 200, r.text
    ended = h2.wait_run("asked", rid)
    assert ended["status"] == "good" and ended["exec_host"] == "h2", ended
    line = f"answered in {tmp_path}/h2/ws/spaces/asked/ws/{rid}\n"
    # read from the database, where h2 writes the events behind
    wait_for(lambda: line in h1.node_log("asked", rid, "after"), what="h2's log on h1")
    got = h1.get(f"/flows/asked/runs/{rid}/artifacts/after/out.txt")  # a file kept on h2's disk
    assert got.status_code == 200 and got.text == f"answered {rid}\n", got.text
    both = [("admin", "h2"), ("otto", "h2")]
    wait_for(lambda: sorted(audited(h1, "asked", "answer", rid)) == both, what="both answers audited")


@pytest.mark.timeout(120)
def test_a_run_h2_executes_is_cancelled_on_h1_by_an_operator_and_not_by_a_viewer(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    h1, h2 = two_hosts(tmp_path, pg_url, floe_host)
    try:
        rid = h1.trigger("slow")
        h2.wait_line(rid, "hold", lambda line: line == "holding")
        vera, otto = session(h1, "vera"), session(h1, "otto")
        denied = vera.post(f"/flows/slow/runs/{rid}/cancel")
        assert denied.status_code == 403 and denied.json()["role"] == "operator", denied.text
        r = otto.post(f"/flows/slow/runs/{rid}/cancel")
        assert r.status_code == 202 and r.json() == {"run_id": rid, "cancelling": True}, r.text
        ended = h2.wait_run("slow", rid)
        assert ended["status"] == "cancelled" and ended["exec_host"] == "h2", ended
        assert audited(h1, "slow", "cancel", rid) == [("otto", "h2")]
        again = otto.post(f"/flows/slow/runs/{rid}/cancel")
        assert again.status_code == 409 and "already ended cancelled" in again.json()["error"], again.text
    finally:
        (tmp_path / "shared" / "release").touch()


@pytest.mark.timeout(120)
def test_the_stop_switch_pulled_on_h1_stops_h2_and_cancels_its_runs(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    h1, h2 = two_hosts(tmp_path, pg_url, floe_host)
    try:
        rid = h1.trigger("slow")
        h2.wait_line(rid, "hold", lambda line: line == "holding")
        r = h1.post("/stop", {"flow": "slow", "reason": "maintenance", "cancel": True})
        assert r.status_code == 200, r.text
        assert r.json()["hosts"] == ["h1", "h2"] and r.json()["cancelled"] == [rid], r.text
        assert h2.get("/stop").json()["stopped"] == {"slow": "maintenance"}
        assert h2.wait_run("slow", rid)["status"] == "cancelled"
        held = h1.trigger("slow")
        wait_for(
            lambda: h1.run("slow", held)["pending_reason"] == "dispatch stopped: maintenance",
            what="the new pend held by the stop switch",
        )
        r = h1.post("/go", {"flow": "slow"})
        assert r.status_code == 200 and r.json()["hosts"] == ["h1", "h2"], r.text
        assert h2.get("/stop").json()["stopped"] == {}
        h2.wait_line(held, "hold", lambda line: line == "holding")
    finally:
        (tmp_path / "shared" / "release").touch()
