"""The browser tests' Chromium, started once for them all (each test gets a fresh context and page),
and their hosts: processes of their own, as a user's host is. The dashboard's live views race the
host (a node seen running in its 0.9 s window), and Playwright's driver loop in the test process
makes an in-process host miss it (test_run_a_flow_from_its_form_and_follow_it_live)."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import HostFactory
from tests.support.chromium import ARGS, CHROMIUM, VIEWPORT, Console, open_page


@pytest.fixture
def floe_host(floe_host: HostFactory) -> HostFactory:
    return functools.partial(floe_host, process=True)


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One Chromium for every browser test; it stops after the last of them."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    b = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    yield b
    b.close()


@pytest.fixture
def console() -> Console:
    return Console()


@pytest.fixture
def page(browser: Browser, console: Console, floe_host: HostFactory) -> Iterator[Page]:
    """A fresh page in a context of its own (no cookie or storage of another test); it closes
    before the test's hosts stop (it depends on their factory), so a poll in flight never meets a
    host that is gone."""
    yield from open_page(browser, console, viewport=VIEWPORT)
