"""The run page lists a node's artifacts with sizes and checksums, and downloads them (real Chromium)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_dashboard import log_in
from tests.support.host import FloeHost, cluster_hosts, start_cluster, stop_all

pytestmark = pytest.mark.browser

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: art
    name: Artifacts
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: build
        listen: trigger.good
        type: exec
        artifacts: ["dist/*"]
        opts:
          shell: 'mkdir -p dist && printf "hello artifact" > dist/app.txt && echo "v=1" >> "$FLOE_OUTPUT"'
"""


def test_a_run_page_lists_and_downloads_artifacts(
    page: Page,
    floe_host: Callable[..., FloeHost],
    tmp_path: Path,
) -> None:
    host = floe_host(CONFIG)
    run_id = host.trigger("art")
    host.wait_run("art", run_id)
    log_in(page, host, f"/app/flows/art/runs/{run_id}")
    box = page.locator("#node-outputs")
    expect(box.locator(".artifacts li")).to_have_count(1)
    expect(box.locator(".artifacts li .size")).to_have_text("14 B")
    expect(box.locator("dt")).to_have_text(["v"])
    with page.expect_download() as info:
        box.locator(".artifacts a", has_text="dist/app.txt").click()
    saved = tmp_path / "got.txt"
    info.value.save_as(saved)
    assert saved.read_text() == "hello artifact"


def test_the_run_page_of_another_host_downloads_what_the_exec_host_kept(
    page: Page,
    tmp_path: Path,
) -> None:
    cluster = CONFIG.replace("common:\n", "common:\n  hosts: [{hosts}]\n", 1).replace(
        "    ver: 1\n", "    ver: 1\n    host-tags: [special]\n", 1
    )
    hosts = cluster_hosts(tmp_path / "cluster", cluster, ["linux", "linux,special"])
    h1, h2 = hosts
    try:
        start_cluster(hosts)
        run_id = h1.trigger("art")
        assert h2.wait_run("art", run_id)["exec_host"] == "h2"
        log_in(page, h1, f"/app/flows/art/runs/{run_id}")  # the page of h1, which ran nothing
        box = page.locator("#node-outputs")
        expect(box.locator(".artifacts li .size")).to_have_text("14 B")
        with page.expect_download() as info:
            box.locator(".artifacts a", has_text="dist/app.txt").click()
        saved = tmp_path / "from-h2.txt"
        info.value.save_as(saved)
        assert saved.read_text() == "hello artifact"
    finally:
        page.goto("about:blank")  # the page's websocket closed before its hosts stop
        stop_all(hosts)
