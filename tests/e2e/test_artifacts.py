"""Artifacts on a real host: declared files kept with the run, listed with sizes and checksums, and
downloaded over the API; nothing outside the workspace is ever kept."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.host import FloeHost

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: art
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: build
        listen: trigger.good
        type: exec
        artifacts: ["dist/*.tgz", "reports/**/*.xml", "out-link", "nothing/*"]
        opts:
          shell: |
            mkdir -p dist reports/unit
            head -c 300000 /dev/urandom > dist/app-1.0.tgz
            echo '<testsuite/>' > reports/unit/junit.xml
            echo secret > {root}/outside.txt
            ln -s {root}/outside.txt out-link
            exit "${FLOE_VALUE_FAIL:-0}"
"""


@pytest.fixture
def host(floe_host: Callable[..., FloeHost]) -> FloeHost:
    return floe_host(CONFIG)


def build(run: dict[str, Any]) -> dict[str, Any]:
    return next(n for n in run["nodes"] if n["id"] == "build")


def test_declared_files_are_kept_listed_and_downloadable(host: FloeHost) -> None:
    run = host.wait_run("art", host.trigger("art"))
    assert run["status"] == "good", run
    space = host.root / "ws" / "spaces" / "art" / "ws" / run["run_id"]
    kept = {a["path"]: a for a in build(run)["artifacts"]}
    assert sorted(kept) == ["dist/app-1.0.tgz", "reports/unit/junit.xml"]  # not the link out
    data = (space / "dist" / "app-1.0.tgz").read_bytes()
    assert kept["dist/app-1.0.tgz"]["size"] == len(data) == 300000
    assert kept["dist/app-1.0.tgz"]["sha256"] == hashlib.sha256(data).hexdigest()
    got = host.get(f"/flows/art/runs/{run['run_id']}/artifacts/build/dist/app-1.0.tgz")
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "application/octet-stream"
    assert "attachment" in got.headers["content-disposition"]
    log = host.node_log("art", run["run_id"], "build")
    assert "out-link leads out of the workspace, not kept" in log
    assert "nothing matches nothing/*" in log
    assert "kept artifact dist/app-1.0.tgz (300000 bytes" in log


def test_files_are_kept_from_a_failed_task_too_and_nothing_else_is_served(host: FloeHost) -> None:
    run = host.wait_run("art", host.trigger("art", values={"fail": "3"}))
    assert run["status"] == "bad"
    assert sorted(a["path"] for a in build(run)["artifacts"]) == [
        "dist/app-1.0.tgz",
        "reports/unit/junit.xml",
    ]
    base = f"/flows/art/runs/{run['run_id']}/artifacts/build"
    for path in ("out-link", "../../../outside.txt", "dist/other.tgz", "%2e%2e/%2e%2e/floe.db"):
        assert host.get(f"{base}/{path}").status_code in (400, 404), path


def test_retention_deletes_a_runs_artifacts_with_the_run(floe_host: Callable[..., FloeHost]) -> None:
    host = floe_host(CONFIG.replace("    ver: 1\n", "    ver: 1\n    retention: {keep-runs: 1}\n", 1))
    first = host.wait_run("art", host.trigger("art"))["run_id"]
    kept = host.root / "store" / "artifacts" / first
    assert kept.is_dir()
    host.wait_run("art", host.trigger("art"))
    r = host.post("/retention/run", {})
    assert r.status_code == 200, r.text
    assert not kept.exists()
    assert host.get(f"/flows/art/runs/{first}").status_code == 404
