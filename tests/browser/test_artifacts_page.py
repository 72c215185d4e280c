"""The run page lists a node's artifacts with sizes and checksums, and downloads them (real Chromium)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_dashboard import browser, console, log_in, page, playwright  # noqa: F401
from tests.support.host import FloeHost

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
    page: Page,  # noqa: F811 (the fixture imported above)
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
