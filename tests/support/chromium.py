"""Headless Debian Chromium for Playwright: the binary apt installs and the flags it runs with here."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Page, ViewportSize

CHROMIUM = "/usr/bin/chromium"  # apt's; Playwright's own download (`playwright install`) is never used
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT: ViewportSize = {"width": 1360, "height": 900}
WAIT = 20_000  # ms, for anything a run has to do first


@dataclass
class Console:
    """Errors the page logged; `allow` holds patterns of the ones a test expects (a 4xx answer)."""

    errors: list[str] = field(default_factory=list)
    allow: list[str] = field(default_factory=list)

    def on_console(self, msg: ConsoleMessage) -> None:
        if msg.type == "error":
            self.errors.append(f"{msg.text} @ {msg.location.get('url', '')}")

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(re.search(p, e) for p in self.allow)]


def open_page(browser: Browser, console: Console, **context: Any) -> Iterator[Page]:
    """A page in a new browser context made with `context`, its console watched; after the test
    the context closes and the page must have logged no unexpected error."""
    ctx = browser.new_context(**context)
    ctx.set_default_timeout(WAIT)
    p = ctx.new_page()
    p.on("console", console.on_console)
    p.on("pageerror", lambda exc: console.errors.append(f"pageerror: {exc}"))
    yield p
    ctx.close()
    assert console.unexpected() == [], "the page logged errors"
