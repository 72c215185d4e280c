"""Two real hosts sharing an S3 archive (a real moto endpoint on 127.0.0.1): any host reads any run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.host import cluster_hosts, start_cluster, stop_all, wait_for
from tests.support.inprocess import InProcessHost
from tests.support.moto import MotoServer

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


@pytest.mark.s3
def test_a_run_archived_by_one_host_is_read_by_another_after_it_stops(
    tmp_path: Path, moto: MotoServer
) -> None:
    hosts = cluster_hosts(
        tmp_path, CONF.replace("{endpoint}", moto.endpoint), ["linux", "linux,special"], InProcessHost
    )
    h1, h2 = hosts
    try:
        start_cluster(hosts)
        run_id = h1.trigger("special")
        assert h2.wait_run("special", run_id)["status"] == "good"
        h2.stop()  # a graceful stop drains the upload queue
        wait_for(
            lambda: [a["run_id"] for a in h1.get("/flows/special/runs").json()["archive"]] == [run_id],
            what="h1 lists the run h2 archived",
        )
        r = h1.run("special", run_id)
        assert r["status"] == "good" and r["exec_host"] == "h2"
        assert h1.node_log("special", run_id, "say").splitlines()[-1] == "archived on h2"
    finally:
        stop_all(hosts)
