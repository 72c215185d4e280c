"""Take the dashboard screenshots of docs/img from the shipped demo (floe/default.yml): a real host
on a free loopback port with a store of its own, driven through its API, shot in headless Chromium."""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.chromium import ARGS, CHROMIUM, VIEWPORT  # noqa: E402
from tests.support.host import TOKEN, FloeHost  # noqa: E402

WAIT = 30_000  # ms


def log_in(page: Page, host: FloeHost, path: str) -> None:
    page.goto(host.url + path)
    page.fill("#password", TOKEN)
    page.click("#login button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(host.url + path) + "(#.*)?$"))


def demo_runs(host: FloeHost) -> tuple[str, str]:
    """Two builds signed off (one kept for the run page), one waiting at its sign-off gate."""
    done = ""
    for approver in ("ada", "grace"):
        done = host.trigger("build", "start", {"branch": "main"})
        host.wait_run("build", done, ("waiting",))
        host.push("build", "sign-off", {"approver": approver, "notes": "release"}, run=done)
        host.wait_run("build", done)
    waiting = host.trigger("build", "start", {"branch": "release/1.2", "target": "darwin"})
    host.wait_run("build", waiting, ("waiting",))
    return done, waiting


def shoot(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="floe-shots-") as root:
        host = FloeHost(Path(root), (REPO / "floe" / "default.yml").read_text()).start()
        try:
            done, _ = demo_runs(host)
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = browser.new_context(viewport=VIEWPORT).new_page()
                page.set_default_timeout(WAIT)
                log_in(page, host, "/app/dash")
                expect(page.locator('.flow-card[data-flow="build"] .dot[data-status="good"]')).to_have_count(
                    2
                )
                page.screenshot(path=str(out / "dashboard.png"), full_page=True)
                page.goto(host.url + "/app/flows/build")
                expect(page.locator("#archive tbody tr")).to_have_count(2)
                page.screenshot(path=str(out / "flow.png"), full_page=True)
                page.goto(f"{host.url}/app/flows/build/runs/{done}")
                page.wait_for_selector('body[data-run-status="good"]')
                page.click('g.node[data-node="compile"]')
                expect(page.locator("#log")).to_contain_text("compiling part 3 of 3")
                page.screenshot(path=str(out / "run.png"), full_page=True)
                browser.close()
        finally:
            host.stop()
            host.http.close()
    for name in ("dashboard.png", "flow.png", "run.png"):
        print(out / name)


def main() -> None:
    p = argparse.ArgumentParser(prog="scripts/screenshots", description=__doc__)
    p.add_argument("--out", type=Path, default=REPO / "docs" / "img", help="where to write (docs/img)")
    shoot(p.parse_args().out)


if __name__ == "__main__":
    main()
