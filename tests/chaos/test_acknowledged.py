"""`kill -9` of a host right after each 200 or 202 of a write (a gate's answer, a cancel, the stop
switch): after a restart every acknowledged write holds, and no finished node runs again."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import HostFactory
from tests.support.host import FloeHost, wait_for

TRIES = 10
FINAL = ("good", "bad", "cancelled")
CONF = """
common:
  workspace-root: {root}/ws
  store-type: local
  store-root: {root}/store
flows:
  - id: gated
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: gate
        listen: trigger.good
        type: data
        opts: {form: {fields: [{id: ok, type: bool, required: true}]}}
      - {id: after, listen: task.gate.good, type: exec, opts: {shell: 'echo "$FLOE_RUN_ID" >> {root}/ledger'}}
      - {id: done, listen: task.after.good, type: end}
  - id: slow
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: nap
        listen: trigger.good
        type: exec
        opts: {shell: 'echo "$FLOE_RUN_ID" >> {root}/ledger; sleep 60'}
"""


def ledger(host: FloeHost) -> list[str]:
    """The run ids the tasks wrote, one line per task that ran."""
    path = host.root / "ledger"
    return path.read_text().split() if path.exists() else []


def audited(host: FloeHost, action: str, run_id: str = "", flow: str = "") -> bool:
    entries: list[dict[str, Any]] = host.get("/audit?limit=10000").json()["entries"]
    return any(
        e["action"] == action and e["run_id"] == run_id and (not flow or e["flow"] == flow) for e in entries
    )


def restart(host: FloeHost) -> None:
    host.kill9()
    host.start()


@pytest.mark.timeout(240)
def test_an_answered_gate_holds_after_kill9(floe_host: HostFactory) -> None:
    host = floe_host(CONF, process=True)
    waiting_again, missing_audit = [], []
    for _ in range(TRIES):
        rid = host.trigger("gated")
        host.wait_run("gated", rid, want=("waiting",))
        r = host.push("gated", "gate", {"ok": True}, run=rid)
        assert r.status_code == 200, r.text
        restart(host)  # right after the 200
        if not audited(host, "answer", rid):
            missing_audit.append(rid)
        if host.run("gated", rid)["status"] == "waiting":
            waiting_again.append(rid)
            assert host.push("gated", "gate", {"ok": True}, run=rid).status_code == 200  # as a user would
        end = host.wait_run("gated", rid)
        ran = ledger(host).count(rid)
        gate = next(n for n in end["nodes"] if n["id"] == "gate")
        assert gate["status"] == "finished" and gate["result"] == "good", end
        assert ran <= 1, f"{rid}: the task after the gate ran {ran} times"
        if end["status"] == "good":
            assert ran == 1, end
        else:  # killed before its result was stored: failed with the reason, never re-run
            assert end["status"] == "bad" and end["reason"] == "host restarted while after was running", end
    print(
        f"\nanswers: {TRIES} acknowledged, {len(waiting_again)} waited again, {len(missing_audit)} lost audit"
    )
    assert not waiting_again, f"answered gates waiting again after kill -9: {waiting_again}"
    assert not missing_audit, f"answers without their audit entry after kill -9: {missing_audit}"


@pytest.mark.timeout(240)
def test_a_cancel_holds_after_kill9(floe_host: HostFactory) -> None:
    host = floe_host(CONF, process=True)
    not_cancelled: list[tuple[str, str, str]] = []
    for i in range(TRIES):
        pending = i % 2 == 1  # every other run is cancelled while pending (dispatch stopped)
        if pending:
            assert host.post("/stop", {"flow": "slow", "reason": "hold"}).status_code == 200
        rid = host.trigger("slow")
        if pending:
            assert host.run("slow", rid)["status"] == "pending"
        else:
            wait_for(lambda rid=rid: rid in ledger(host), what=f"{rid} started its task")
        r = host.post(f"/flows/slow/runs/{rid}/cancel")
        assert r.status_code == 202, r.text
        restart(host)  # right after the 202
        if pending:
            assert host.post("/go", {"flow": "slow"}).status_code == 200
        end = host.wait_run("slow", rid)
        if end["status"] != "cancelled":
            not_cancelled.append((rid, end["status"], end["reason"]))
        assert audited(host, "cancel", rid), f"{rid}: the cancel's audit entry is gone"
        assert ledger(host).count(rid) == (0 if pending else 1), f"{rid} ran again: {ledger(host)}"
    print(f"\ncancels: {TRIES} acknowledged, {len(not_cancelled)} not cancelled after kill -9")
    assert not not_cancelled, f"acknowledged cancels lost after kill -9: {not_cancelled}"


@pytest.mark.timeout(240)
def test_the_stop_switch_holds_after_kill9(floe_host: HostFactory) -> None:
    host = floe_host(CONF, process=True)
    for i in range(TRIES // 2):
        reason = f"freeze {i}"
        assert host.post("/stop", {"flow": "slow", "reason": reason}).status_code == 200
        restart(host)  # right after the 200
        assert host.get("/stop").json()["stopped"] == {"slow": reason}
        assert audited(host, "stop", flow="slow")
        rid = host.trigger("slow")
        assert host.run("slow", rid)["pending_reason"] == f"dispatch stopped: {reason}"
        assert host.post("/go", {"flow": "slow"}).status_code == 200
        restart(host)  # right after the 200
        assert host.get("/stop").json()["stopped"] == {}
        assert audited(host, "go", flow="slow")
        # dispatched before the kill (then failed as interrupted, or running) or after the restart
        status = host.wait_run("slow", rid, want=("running", "bad"))["status"]
        if status == "running":
            wait_for(lambda rid=rid: rid in ledger(host), what=f"{rid} started its task")
            assert host.post(f"/flows/slow/runs/{rid}/cancel").status_code == 202
            assert host.wait_run("slow", rid)["status"] == "cancelled"
        assert ledger(host).count(rid) <= 1, f"{rid}: its task ran again after the restart"
