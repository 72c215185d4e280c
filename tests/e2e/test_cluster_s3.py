"""Two real hosts sharing an S3 archive (a real moto endpoint on 127.0.0.1): any host reads any run."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.host import FloeHost, free_port
from tests.support.moto import MotoServer, aws_test_env, running_moto

CONF = """
common:
  hosts: [{hosts}]
  workspace-root: {root}/ws
  store-root: {root}/store
  store-type: s3
  s3-bucket: floe-archive
  s3-prefix: ci/
  s3-endpoint: {endpoint}
flows:
  - id: special
    ver: 1
    host-tags: [special]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: say, listen: trigger.good, type: exec, opts: {shell: "echo archived on h2"}}
"""


@pytest.fixture
def moto(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[MotoServer]:
    aws_test_env(monkeypatch, tmp_path)
    with running_moto(tmp_path / "moto") as server:
        yield server


@pytest.mark.s3
def test_a_run_archived_by_one_host_is_read_by_another_after_it_stops(
    tmp_path: Path, moto: MotoServer
) -> None:
    ports = [free_port(), free_port()]
    conf = CONF.replace("{hosts}", ", ".join(f"http://127.0.0.1:{p}" for p in ports)).replace(
        "{endpoint}", moto.endpoint
    )
    h1 = FloeHost(tmp_path / "h1", conf, name="h1", tags="linux", port=ports[0]).start()
    h2 = FloeHost(tmp_path / "h2", conf, name="h2", tags="linux,special", port=ports[1]).start()
    try:
        deadline = time.monotonic() + 20
        while not all(x["online"] for x in h1.get("/hosts").json()["hosts"]):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        run_id = h1.trigger("special")
        assert h2.wait_run("special", run_id)["status"] == "good"
        h2.stop()  # a graceful stop drains the upload queue
        deadline = time.monotonic() + 20
        while [a["run_id"] for a in h1.get("/flows/special/runs").json()["archive"]] != [run_id]:
            assert time.monotonic() < deadline, h1.get("/flows/special/runs").json()
            time.sleep(0.1)
        r = h1.run("special", run_id)
        assert r["status"] == "good" and r["exec_host"] == "h2"
        assert h1.node_log("special", run_id, "say").splitlines()[-1] == "archived on h2"
    finally:
        for h in (h1, h2):
            h.stop()
            h.http.close()
