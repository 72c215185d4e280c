"""Artifacts in a cluster of two real hosts: a file kept by a task on h2 is downloaded from h1, through
the shared S3 bucket (a real moto endpoint) even once h2 is stopped, or, with local stores, forwarded
from h2 while it runs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.support.host import FloeHost, cluster_hosts, start_cluster, stop_all, wait_for
from tests.support.inprocess import InProcessHost
from tests.support.moto import MotoServer

FLOW = """
flows:
  - id: special
    ver: 1
    host-tags: [special]
    triggers: [{id: go, type: data}]
    tasks:
      - id: build
        listen: trigger.good
        type: exec
        artifacts: ["dist/*"]
        opts:
          shell: |
            mkdir -p dist
            head -c 300000 /dev/urandom > "dist/app 1.0.tgz"
            head -c 9437184 /dev/urandom > dist/big.bin
"""
LOCAL = (
    """
common:
  hosts: [{hosts}]
  workspace-root: {root}/ws
  store-root: {root}/store
"""
    + FLOW
)
S3 = (
    """
common:
  hosts: [{hosts}]
  workspace-root: {root}/ws
  store-root: {root}/store
  store-type: s3
  s3-bucket: floe-archive
  s3-prefix: ci/
  s3-endpoint: {endpoint}
"""
    + FLOW
)
SMALL, BIG = "dist/app 1.0.tgz", "dist/big.bin"


def kept(run: dict[str, Any]) -> dict[str, dict[str, Any]]:
    build = next(n for n in run["nodes"] if n["id"] == "build")
    return {a["path"]: a for a in build["artifacts"]}


def made_on_h2(h2: FloeHost, run_id: str) -> dict[str, bytes]:
    """The files as the task wrote them in h2's workspace."""
    space = h2.root / "ws" / "spaces" / "special" / "ws" / run_id
    return {rel: (space / rel).read_bytes() for rel in (SMALL, BIG)}


def download(host: FloeHost, run_id: str, rel: str) -> bytes:
    r = host.get(f"/flows/special/runs/{run_id}/artifacts/build/{rel}")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    assert "attachment" in r.headers["content-disposition"]
    assert int(r.headers["content-length"]) == len(r.content)
    return r.content


def check(host: FloeHost, run_id: str, records: dict[str, dict[str, Any]], files: dict[str, bytes]) -> None:
    for rel, data in files.items():
        got = download(host, run_id, rel)
        assert got == data, rel
        assert records[rel]["size"] == len(got)
        assert records[rel]["sha256"] == hashlib.sha256(got).hexdigest()


@pytest.mark.s3
@pytest.mark.timeout(120)
def test_an_artifact_made_on_h2_is_downloaded_from_h1_through_s3_even_with_h2_stopped(
    tmp_path: Path, moto: MotoServer
) -> None:
    hosts = cluster_hosts(
        tmp_path, S3.replace("{endpoint}", moto.endpoint), ["linux", "linux,special"], InProcessHost
    )
    h1, h2 = hosts
    try:
        start_cluster(hosts)
        run_id = h1.trigger("special")
        run = h2.wait_run("special", run_id)
        assert run["status"] == "good" and run["exec_host"] == "h2", run
        records, files = kept(run), made_on_h2(h2, run_id)
        assert sorted(records) == [SMALL, BIG]
        s3 = boto3.client("s3", endpoint_url=moto.endpoint, config=Config(s3={"addressing_style": "path"}))
        head = s3.head_object(Bucket="floe-archive", Key=f"ci/artifacts/{run_id}/build/dist/app%201.0.tgz")
        assert head["ContentLength"] == len(files[SMALL])  # in the bucket before the result listed it
        assert head["Metadata"]["sha256"] == records[SMALL]["sha256"]
        check(h1, run_id, records, files)  # h2 still up: h1 reads the bucket, or asks h2
        h2.stop()  # a graceful stop drains the upload queue
        wait_for(
            lambda: [a["run_id"] for a in h1.get("/flows/special/runs").json()["archive"]] == [run_id],
            what="h1 lists the run h2 archived",
        )
        assert kept(h1.run("special", run_id)) == records
        check(h1, run_id, records, files)  # from S3 alone
        missing = h1.get(f"/flows/special/runs/{run_id}/artifacts/build/dist/other.bin")
        assert missing.status_code == 404 and "kept no artifact" in missing.json()["error"]
    finally:
        stop_all(hosts)


@pytest.mark.timeout(90)
def test_without_shared_storage_h1_forwards_the_download_to_h2(tmp_path: Path) -> None:
    hosts = cluster_hosts(tmp_path, LOCAL, ["linux", "linux,special"], InProcessHost)
    h1, h2 = hosts
    try:
        start_cluster(hosts)
        run_id = h1.trigger("special")
        run = h2.wait_run("special", run_id)
        assert run["status"] == "good" and run["exec_host"] == "h2", run
        assert not (h1.root / "store" / "artifacts" / run_id).exists()  # kept on h2 only
        check(h1, run_id, kept(run), made_on_h2(h2, run_id))
        h2.stop()
        r = h1.get(f"/flows/special/runs/{run_id}/artifacts/build/{BIG}")
        assert r.status_code == 502 and "h2" in r.json()["error"], r.text
    finally:
        stop_all(hosts)


@pytest.mark.s3
@pytest.mark.timeout(120)
def test_with_s3_hung_the_result_still_comes_and_the_host_serves_its_own_copy(
    floe_host: Callable[..., FloeHost], moto: MotoServer
) -> None:
    conf = S3.replace("{endpoint}", moto.endpoint).replace("[{hosts}]", "[]")
    hung = conf.replace("  s3-prefix: ci/\n", "  s3-prefix: ci/\n  s3-timeout: 1\n")  # 1 s, not 2, a try
    h1 = floe_host(hung, tags="linux,special")
    moto.pause()  # a hung endpoint: connections open, nothing answers
    run_id = h1.trigger("special")
    run = h1.wait_run("special", run_id, timeout=90)
    assert run["status"] == "good", run
    log = h1.node_log("special", run_id, "build")
    assert "artifacts: cannot copy them to s3://floe-archive/ci/" in log
    assert "only this host serves them" in log
    check(
        h1,
        run_id,
        kept(run),
        {SMALL: (h1.root / "store" / "artifacts" / run_id / "build" / SMALL).read_bytes()},
    )
    moto.resume()
