"""Headless Debian Chromium for Playwright: the binary apt installs and the flags it runs with here."""

from __future__ import annotations

from playwright.sync_api import ViewportSize

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
