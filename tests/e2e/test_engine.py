"""floe's own scenarios against a real host process: triggers, gates, end rules, cancel, restart."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import HostFactory
from tests.support.host import TOKEN, FloeHost, free_port, wait_for

CONF = """
common:
  workspace-root: {root}/ws
  store-type: local
  store-root: {root}/store
flows:
  - id: diamond
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: checkout, listen: trigger.good, type: exec, opts: {shell: "echo checked out $branch"}}
      - {id: build, listen: task.checkout.good, type: exec, opts: {cmd: "ls /"}}
      - {id: test1, listen: task.build.good, type: exec, opts: {cmd: "echo test1"}}
      - {id: test2, listen: task.build.good, type: exec, opts: {cmd: "echo test2"}}
      - {id: merge-tests, class: merge, type: all, wait: [task.test1.good, task.test2.good]}
      - {id: done, listen: merge.merge-tests.good, type: end}
  - id: gate
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: build, listen: trigger.good, type: exec, opts: {cmd: "true"}}
      - id: sign-off
        listen: task.build.good
        type: data
        opts:
          form:
            title: Sign off
            fields:
              - {id: tests_passed, prompt: Did the tests pass?, type: bool}
              - {id: to_hash, prompt: To hash, type: string}
      - {id: test1, listen: task.sign-off.good, type: exec, opts: {shell: "echo signed $FLOEWS"}}
      - {id: done, listen: task.test1.good, type: end}
  - id: status
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: st, listen: trigger.good, type: exec, use-status: true, good: [0, 2], opts: {shell: "exit 2"}}
      - {id: done, listen: task.st.2, type: end}
  - id: ignore
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: fail, listen: trigger.good, type: exec, ignore-fail: true, opts: {shell: "exit 3"}}
      - {id: done, listen: task.fail.good, type: end}
  - id: failing
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: bad, listen: trigger.good, type: exec, opts: {cmd: "false"}}
      - {id: done, listen: task.bad.good, type: end}
  - id: missing
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: nope, listen: trigger.good, type: exec, opts: {cmd: "no-such-program-floe --x"}}
  - id: locked
    ver: 1
    resource-tags: [db]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: hold, listen: trigger.good, type: exec, opts: {shell: "sleep ${HOLD:-0.5}", env: ["HOLD=0.5"]}}
      - {id: done, listen: task.hold.good, type: end}
  - id: long
    ver: 1
    resource-tags: [db]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: nap, listen: trigger.good, type: exec, opts: {shell: "sleep 300 & echo child $!; wait"}}
  - id: timeout
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: slow, listen: trigger.good, type: exec, timeout: 0.5, opts: {shell: "sleep 120"}}
      - {id: done, listen: task.slow.good, type: end}
"""


@pytest.fixture
def host(floe_host: HostFactory) -> FloeHost:
    return floe_host(CONF)


def test_fan_out_two_parallel_tests_merge_all_end(host: FloeHost) -> None:
    run_id = host.trigger("diamond", values={"branch": "feature/x"})
    assert run_id == "h1-1"
    r = host.wait_run("diamond", run_id)
    assert r["status"] == "good", r
    assert {n["id"]: n["result"] for n in r["nodes"]} == {
        "checkout": "good",
        "build": "good",
        "test1": "good",
        "test2": "good",
        "merge-tests": "good",
        "done": "good",
    }
    assert "checked out feature/x" not in host.node_log("diamond", run_id, "checkout")  # values are not env
    assert host.node_log("diamond", run_id, "test2").splitlines()[-1] == "test2"
    listed = host.get("/flows/diamond/runs").json()
    assert [x["run_id"] for x in listed["archive"]] == [run_id]


def test_data_gate_partial_values_keep_waiting(host: FloeHost) -> None:
    run_id = host.trigger("gate")
    assert host.wait_run("gate", run_id, want={"waiting"})["status"] == "waiting"
    assert host.push("gate", "sign-off", {"tests_passed": "yes"}, run=run_id).status_code == 200
    r = host.run("gate", run_id)
    assert r["status"] == "waiting"
    bad = host.push("gate", "sign-off", {"tests_passed": "perhaps"}, run=run_id)
    assert bad.status_code == 400 and bad.json()["field"] == "tests_passed"
    assert host.push("gate", "sign-off", {"to_hash": "abc123"}, run=run_id).status_code == 200
    r = host.wait_run("gate", run_id)
    assert r["status"] == "good", r
    gate = next(n for n in r["nodes"] if n["id"] == "sign-off")
    assert gate["values"] == {"tests_passed": True, "to_hash": "abc123"}
    answer_again = host.push("gate", "sign-off", {"to_hash": "x"}, run=run_id)
    assert answer_again.status_code == 404


def test_use_status_ignore_fail_and_unrouted_bad(host: FloeHost) -> None:
    ids = {f: host.trigger(f) for f in ("status", "ignore", "failing")}
    assert host.wait_run("status", ids["status"])["status"] == "good"
    assert host.wait_run("ignore", ids["ignore"])["status"] == "good"
    r = host.wait_run("failing", ids["failing"])
    assert r["status"] == "bad" and r["reason"] == "bad failed: exit status 1"


def test_missing_program_is_an_error_event_with_a_clear_log_line(host: FloeHost) -> None:
    run_id = host.trigger("missing")
    r = host.wait_run("missing", run_id)
    assert r["status"] == "bad" and r["nodes"][0]["result"] == "error"
    assert "no-such-program-floe" in host.node_log("missing", run_id, "nope")


def test_resource_tag_makes_the_second_run_wait_then_start_at_once(host: FloeHost) -> None:
    first, second = host.trigger("locked"), host.trigger("locked")
    r2 = host.run("locked", second)
    assert r2["status"] == "pending" and r2["pending_reason"] == f"resource db held by run {first}"
    r1 = host.wait_run("locked", first)
    r2 = host.wait_run("locked", second)
    assert r1["status"] == r2["status"] == "good"
    assert r2["started"] >= r1["ended"] and r2["started"] - r1["ended"] < 1.0  # no polling tick


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return state != "Z"


def _child_pid(host: FloeHost, run_id: str) -> int:
    line = host.wait_line(run_id, "nap", lambda text: text.startswith("child "))
    return int(line.split()[1])


def test_cancel_kills_the_process_group_and_archives_cancelled(host: FloeHost) -> None:
    run_id = host.trigger("long")
    child = _child_pid(host, run_id)
    assert _alive(child)
    assert host.post(f"/flows/long/runs/{run_id}/cancel").status_code == 202
    r = host.wait_run("long", run_id)
    assert r["status"] == "cancelled" and r["nodes"][0]["status"] == "cancelled"
    assert not _alive(child)
    assert host.post(f"/flows/long/runs/{run_id}/cancel").status_code == 409


def test_cancel_a_pending_run(host: FloeHost) -> None:
    holder, waiting = host.trigger("long"), host.trigger("locked")
    assert host.run("locked", waiting)["status"] == "pending"
    assert host.post(f"/flows/locked/runs/{waiting}/cancel").status_code == 202
    assert host.wait_run("locked", waiting)["status"] == "cancelled"
    host.post(f"/flows/long/runs/{holder}/cancel")
    host.wait_run("long", holder)


def test_timeout_kills_the_task_and_reports_bad(host: FloeHost) -> None:
    run_id = host.trigger("timeout")
    r = host.wait_run("timeout", run_id)
    assert r["status"] == "bad" and r["nodes"][0]["exit_status"] == 124, r
    assert "timed out after 0.5s" in host.node_log("timeout", run_id, "slow")


def test_kill_9_keeps_pending_and_archived_runs_and_resolves_active(floe_host: HostFactory) -> None:
    host = floe_host(CONF, process=True)  # killed with -9
    good = host.trigger("diamond")
    host.wait_run("diamond", good)
    gate = host.trigger("gate")
    host.wait_run("gate", gate, want={"waiting"})
    active = host.trigger("long")
    child = _child_pid(host, active)
    pending = host.trigger("locked")  # answered once durable, so is everything before it
    assert host.run("locked", pending)["status"] == "pending"

    host.kill9()
    assert _alive(child)  # the task's processes outlive their host
    host.start()

    wait_for(lambda: not _alive(child), 10, "the leftover task process killed at restart")
    assert host.run("diamond", good)["status"] == "good"
    r = host.run("long", active)
    assert r["status"] == "bad" and r["reason"] == "host restarted while nap was running"
    killed = host.node_log("long", active, "nap").splitlines()
    assert f"killed process {child} left running when the host stopped: sleep 300" in killed
    assert host.wait_run("locked", pending)["status"] == "good"  # kept, then dispatched
    assert host.run("gate", gate)["status"] == "waiting"  # a data gate survives a restart
    assert host.push("gate", "sign-off", {"tests_passed": True, "to_hash": "h"}, run=gate).status_code == 200
    assert host.wait_run("gate", gate)["status"] == "good"
    assert host.trigger("diamond") == "h1-101"  # the counter continues, from the next reserved block


def test_bad_requests_are_clear_4xx_and_the_host_keeps_running(host: FloeHost) -> None:
    post = host.http.post
    json_type = {"Content-Type": "application/json"}
    assert post("/build/api/push/data", content=b"{not json", headers=json_type).status_code == 400
    assert post("/build/api/push/data", json=[1, 2]).status_code == 400
    r = post("/build/api/push/data", json={"Ref": {"ID": 5}})
    assert r.status_code == 400 and r.json()["field"] == "Ref.ID"
    r = host.push("diamond", "nope")
    assert r.status_code == 404 and "nope" in r.json()["error"]
    assert host.get("/flows/nope/runs").status_code == 404
    assert host.get("/flows/diamond/runs?limit=zero").status_code == 400
    assert host.get("/flows/diamond/runs/h1-1/nodes/x/log").status_code == 404
    assert host.get("/no/such/route").json() == {"error": "Not Found"}
    assert host.http.get("/healthz").json()["ok"] is True


def test_auth_is_required_and_login_sets_a_strict_cookie(host: FloeHost) -> None:
    import httpx

    anon = httpx.Client(base_url=host.url)
    host.extra_clients.append(anon)
    assert anon.get("/build/api/flows").status_code == 401
    assert anon.post("/build/api/push/data", json={}).status_code == 401
    bad = anon.post("/build/api/login", json={"user": "admin", "password": "wrong"})
    assert bad.status_code == 401
    ok = anon.post("/build/api/login", json={"user": "admin", "password": TOKEN})
    cookie = ok.headers["set-cookie"].lower()
    assert ok.status_code == 200 and "httponly" in cookie and "samesite=strict" in cookie
    assert anon.get("/build/api/flows").status_code == 200
    assert "access-control-allow-origin" not in ok.headers
    assert "wrong" not in host.log() and TOKEN not in host.log()


def test_floe_quick_start_flags_and_long_forms(tmp_path: Path) -> None:
    for style in ("go", "long"):
        port = free_port()
        conf = tmp_path / f"{style}.yml"
        conf.write_text(f"common: {{workspace-root: {tmp_path}/ws-{style}}}\nflows: []\n")
        if style == "go":
            argv = [
                "-tags=linux,go,couch",
                "-admin=123456",
                "-host_name=h1",
                f"-pub_bind=127.0.0.1:{port}",
                f"-conf={conf}",
            ]
        else:
            argv = [
                "--tags",
                "linux,go,couch",
                "--admin",
                "123456",
                "--host-name",
                "h1",
                "--pub-bind",
                f"127.0.0.1:{port}",
                "--conf",
                str(conf),
            ]
        proc = subprocess.Popen(
            [sys.executable, "-m", "floe", *argv],
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "HOME": str(tmp_path)},
        )
        try:
            import httpx

            deadline = time.monotonic() + 20
            while True:
                try:
                    health = httpx.get(f"http://127.0.0.1:{port}/healthz").json()
                    break
                except httpx.HTTPError:
                    assert time.monotonic() < deadline and proc.poll() is None
                    time.sleep(0.05)
            assert health == {"host": "h1", "tags": ["couch", "go", "linux"], "ok": True}
            flows = httpx.get(f"http://127.0.0.1:{port}/build/api/flows", headers={"X-Floe-Auth": "123456"})
            assert flows.status_code == 200
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)


def test_a_graceful_stop_kills_running_tasks_and_flushes_the_store(floe_host: HostFactory) -> None:
    host = floe_host(CONF, process=True)  # stopped by SIGTERM
    run_id = host.trigger("long")
    child = _child_pid(host, run_id)
    assert host.proc is not None
    host.proc.send_signal(signal.SIGTERM)  # the host only, not its tasks' process groups
    assert host.proc.wait(15) == 0  # it handled the signal, cleaned up, and exited
    assert not _alive(child)  # its task's process group went with it
    assert "host h1 stopping" in host.log()
    host.start()
    r = host.run("long", run_id)
    assert r["status"] == "bad" and r["reason"] == "host restarted while nap was running"
