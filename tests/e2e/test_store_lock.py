"""One host per store: a second host on the same store root, or on a taken port, is refused
before it touches a run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import HostFactory
from tests.support.host import TOKEN, free_port

CONF = """
common:
  workspace-root: {shared}/ws
  store-type: local
  store-root: {shared}/store
flows:
  - id: slow
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: hold
        listen: trigger.good
        type: exec
        opts: {shell: 'echo holding; while [ ! -e {shared}/release ]; do sleep 0.05; done'}
      - {id: done, listen: task.hold.good, type: end}
"""


def _refused(root: Path, conf: str, port: int) -> str:
    """The output of a host that must exit 1 at start-up (waited for: it may not serve)."""
    root.mkdir(parents=True)
    (root / "h1.yml").write_text(conf)
    argv = [sys.executable, "-m", "floe", f"-conf={root / 'h1.yml'}", f"-admin={TOKEN}"]
    done = subprocess.run(
        [*argv, f"-pub_bind=127.0.0.1:{port}"],
        capture_output=True,
        text=True,
        timeout=30,  # a host that was not refused serves on: this ends the test
        env={**os.environ, "HOME": str(root)},
    )
    assert done.returncode == 1, done
    return done.stderr


def test_a_second_host_on_the_same_store_is_refused_and_the_first_ones_run_untouched(
    tmp_path: Path, floe_host: HostFactory
) -> None:
    shared = tmp_path / "shared"
    conf = CONF.replace("{shared}", str(shared))
    first = floe_host(conf, process=True)  # the refusal names its pid
    run_id = first.trigger("slow")
    first.wait_line(run_id, "hold", lambda line: line == "holding")
    assert first.proc is not None

    log = _refused(tmp_path / "second", conf, free_port())

    assert f"another floe host (pid {first.proc.pid}) is using {shared / 'store'}" in log
    assert "serving on" not in log and "killed process" not in log
    r = first.run("slow", run_id)
    assert r["status"] == "running" and r["reason"] == "", r
    (shared / "release").touch()
    assert first.wait_run("slow", run_id)["status"] == "good"


def test_a_host_on_a_taken_port_says_so_and_never_claims_to_serve(
    tmp_path: Path, floe_host: HostFactory
) -> None:
    first = floe_host(CONF.replace("{shared}", str(tmp_path / "one")))
    log = _refused(tmp_path / "second", CONF.replace("{shared}", str(tmp_path / "two")), first.port)

    assert f"cannot serve on 127.0.0.1:{first.port}: Address already in use" in log
    assert "serving on" not in log
    assert first.get("/flows").status_code == 200
