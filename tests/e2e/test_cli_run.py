"""`floe run FLOW --follow` as a user types it, against a real host process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from floe.client import line
from floe.hub.credentials import ADMIN_VAR
from tests.conftest import HostFactory
from tests.support.host import TOKEN, FloeHost, wait_for

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: build
    ver: 1
    triggers:
      - id: other
        type: data
        opts: {form: {fields: [{id: note, type: string}]}}
      - id: start
        type: data
        opts: {form: {fields: [{id: who, type: string, required: true}, {id: n, type: int, default: 1}]}}
    tasks:
      - id: hello
        listen: trigger.good
        type: exec
        opts: {shell: 'echo "hello $FLOE_VALUE_WHO"; echo n=$FLOE_VALUE_N'}
      - {id: fail, listen: task.hello.good, type: exec, opts: {shell: 'echo "failing now"; exit 3'}}
  - id: ok
    ver: 1
    triggers: [{id: go, type: data, opts: {form: {fields: [{id: who, type: string}]}}}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {shell: 'echo "a says $FLOE_VALUE_WHO"'}}
      - {id: b, listen: task.a.good, type: exec, opts: {shell: 'echo "b done"'}}
  - id: gated
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: before, listen: trigger.good, type: exec, opts: {shell: 'echo before the gate'}}
      - {id: gate, listen: task.before.good, type: data, opts: {form: {fields: [{id: ok, required: true}]}}}
      - {id: after, listen: task.gate.good, type: exec, opts: {shell: 'echo after the gate'}}
  - id: slow
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: nap, listen: trigger.good, type: exec, opts: {shell: 'echo going to sleep; sleep 60'}}
"""


@pytest.fixture
def host(floe_host: HostFactory) -> FloeHost:
    return floe_host(CONFIG)


def floe_run(
    host: FloeHost, args: Sequence[str], env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "floe", "run", "--host", host.url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, ADMIN_VAR: TOKEN, **(env or {})},
    )


def follow_in_background(host: FloeHost, args: Sequence[str], out: Path) -> subprocess.Popen[str]:
    with out.open("w") as f:
        return subprocess.Popen(
            [sys.executable, "-m", "floe", "run", "--host", host.url, "--follow", *args],
            stdout=f,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, ADMIN_VAR: TOKEN},
        )


def run_id_of(out: Path) -> str:
    return out.read_text().split()[1]  # "run h1-3 of slow created"


def test_a_good_run_streams_its_lines_and_exits_0(host: FloeHost) -> None:
    done = floe_run(host, ["ok", "-v", "who=ada=lovelace", "--follow"])
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    run_id = lines[0].split()[1]
    assert lines[0] == f"run {run_id} of ok created"
    assert "a | a says ada=lovelace" in lines and "b | b done" in lines
    said = lines.index("a | a says ada=lovelace")
    assert lines.index("--> a started") < said < lines.index("<-- a good (exit 0)")
    assert lines.index("<-- a good (exit 0)") < lines.index("--> b started") < lines.index("b | b done")
    assert lines[-1] == f"run {run_id} good"
    assert host.run("ok", run_id)["status"] == "good"


def test_a_bad_run_exits_1_with_its_reason(host: FloeHost) -> None:
    done = floe_run(host, ["build", "--trigger", "start", "-v", "who=grace", "-v", "n=4", "-f"])
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert "hello | hello grace" in lines and "hello | n=4" in lines
    assert "fail | failing now" in lines and "<-- fail bad (exit 3)" in lines
    run_id = lines[0].split()[1]
    assert lines[-1].startswith(f"run {run_id} bad")
    assert host.run("build", run_id)["trigger"] == "start"  # the trigger named, not the first


def test_a_bad_value_is_the_hosts_400_with_its_field_and_exit_2(host: FloeHost) -> None:
    done = floe_run(host, ["build", "--trigger", "start", "-v", "who=x", "-v", "n=many", "--follow"])
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("floe run: 400: n: ") and "integer" in done.stderr
    missing = floe_run(host, ["build", "--trigger", "start"])
    assert missing.returncode == 2 and "400: who: " in missing.stderr
    assert floe_run(host, ["build", "-v", "novalue"]).returncode == 2
    nope = floe_run(host, ["nope"])
    assert nope.returncode == 2 and "404" in nope.stderr


def test_without_follow_it_prints_the_run_id_and_the_default_trigger_is_the_first(host: FloeHost) -> None:
    done = floe_run(host, ["build", "-v", "note=hi"])
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.strip()
    assert host.run("build", run_id)["trigger"] == "other"


def test_the_token_comes_from_the_flag_a_file_or_the_hosts_token_file(host: FloeHost, tmp_path: Path) -> None:
    no_env = {ADMIN_VAR: "", "HOME": str(tmp_path)}
    refused = floe_run(host, ["ok"], env=no_env)
    assert refused.returncode == 2 and "no admin token" in refused.stderr
    wrong = floe_run(host, ["ok", "--admin", "wrong"], env=no_env)
    assert wrong.returncode == 2 and "401" in wrong.stderr
    assert floe_run(host, ["ok", "--admin", TOKEN], env=no_env).returncode == 0
    (tmp_path / "t").write_text(TOKEN + "\n")
    assert floe_run(host, ["ok", "--admin-file", str(tmp_path / "t")], env=no_env).returncode == 0
    (tmp_path / ".floe").mkdir()
    (tmp_path / ".floe" / "admin-token").write_text(TOKEN)  # where a host writes the one it made
    assert floe_run(host, ["ok"], env=no_env).returncode == 0


def test_a_cancelled_run_exits_2(host: FloeHost, tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = follow_in_background(host, ["slow"], out)
    try:
        wait_for(lambda: "nap | going to sleep" in out.read_text(), what="the nap's first line")
        assert host.post(f"/flows/slow/runs/{run_id_of(out)}/cancel").status_code == 202
        assert proc.wait(30) == 2
    finally:
        proc.kill()
        proc.wait()
    assert out.read_text().splitlines()[-1].startswith(f"run {run_id_of(out)} cancelled")


def test_the_stream_resumes_after_a_host_restart_without_repeating_a_line(
    host: FloeHost, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    proc = follow_in_background(host, ["gated"], out)
    try:
        wait_for(lambda: "--- gate waits for input: ok" in out.read_text(), what="the gate waits")
        run_id = run_id_of(out)
        host.stop()
        host.start()
        assert host.push("gated", "gate", {"ok": "yes"}, run=run_id).status_code == 200
        assert proc.wait(60) == 0, out.read_text()
    finally:
        proc.kill()
        proc.wait()
    lines = out.read_text().splitlines()
    assert lines.count("before | before the gate") == 1
    assert lines.count("--- gate waits for input: ok") == 1
    assert "after | after the gate" in lines and lines[-1] == f"run {run_id} good"


def test_events_show_as_one_line_each() -> None:
    def e(tag: str, node: str = "n", **opts: object) -> dict[str, object]:
        return {"run_id": "h1-1", "tag": tag, "source_node": node, "opts": opts, "seq": 1}

    assert line(e("sys.node.update", line="x")) == "n | x"
    assert line(e("task.n.error")) == "<-- n error"
    assert line(e("task.n.7", exit_status=7)) == "<-- n 7 (exit 7)"
    assert line(e("sys.end.all", status="good", reason="")) == "run h1-1 good"
    assert line(e("sys.state", action="add-pend")) is None
