"""The dashboard per role, in headless Chromium: what a role may not do is not shown; Run now;
Cancel asks first."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Dialog, Page, Route, expect

from floe.server.passwords import hash_password
from tests.browser.test_dashboard import node
from tests.support.host import FloeHost

pytestmark = pytest.mark.browser

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  users:
    - {name: vera, role: viewer, password: "VERA"}
    - {name: otto, role: operator, password: "OTTO"}
flows:
  - id: hourly
    name: Hourly check
    ver: 1
    triggers: [{id: tick, name: Every hour, type: timer, opts: {period: 3600}}]
    tasks:
      - {id: df, name: Disk space, listen: trigger.good, type: exec, opts: {shell: 'echo checked the disk'}}
  - id: gated
    name: Gated
    ver: 1
    triggers:
      - {id: go, name: Go, type: data, opts: {form: {fields: [{id: note, type: string}]}}}
    tasks:
      - id: sign
        listen: trigger.good
        type: data
        opts: {form: {title: Sign, fields: [{id: who, type: string, required: true}]}}
  - id: slow
    name: Long sleeper
    ver: 1
    triggers: [{id: go, name: Go, type: data}]
    tasks:
      - {id: nap, listen: trigger.good, type: exec, opts: {shell: 'echo going to sleep; sleep 60'}}
"""


@pytest.fixture
def host(floe_host: Callable[..., FloeHost]) -> FloeHost:
    conf = CONFIG
    for name in ("VERA", "OTTO"):
        conf = conf.replace(f'"{name}"', f'"{hash_password(name.lower() + "-pw")}"')
    return floe_host(conf)


def log_in_as(page: Page, host: FloeHost, user: str, path: str) -> None:
    page.goto(host.url + path)
    expect(page).to_have_url(re.compile(r"/app/login\?next="))
    expect(page.locator("#login button[type=submit]")).to_be_enabled()  # login.js is running
    page.fill("#user", user)
    page.fill("#password", f"{user}-pw")
    page.click("#login button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(host.url + path) + "(#.*)?$"))


def test_run_now_starts_a_timer_flow_at_once(page: Page, host: FloeHost) -> None:
    log_in_as(page, host, "otto", "/app/flows/hourly")
    expect(page.locator("#who")).to_contain_text("otto")
    expect(page.locator("#who .role")).to_have_text("operator")
    page.click('[data-trigger="tick"] [data-run-now="tick"]')
    page.wait_for_url(re.compile(r"/app/flows/hourly/runs/h1-\d+$"))
    page.wait_for_selector('body[data-run-status="good"]')
    node(page, "df", "good")
    expect(page.locator("#log")).to_contain_text("checked the disk")
    run_id = page.url.rsplit("/", 1)[-1]
    assert host.run("hourly", run_id)["trigger"] == "tick"


def test_a_viewer_sees_no_form_no_run_now_no_cancel_no_rerun(page: Page, host: FloeHost) -> None:
    waiting = host.trigger("gated", "go")
    host.wait_run("gated", waiting, ("waiting",))
    log_in_as(page, host, "vera", "/app/flows/gated")
    expect(page.locator("#who")).to_contain_text("vera")
    expect(page.locator("#who .role")).to_have_text("viewer")
    trigger = page.locator('[data-trigger="go"]')
    expect(trigger.locator('[data-needs="operator"]')).to_contain_text("needs the operator role")
    expect(trigger.locator("form")).to_have_count(0)
    page.goto(host.url + "/app/flows/hourly")
    expect(page.locator('[data-trigger="tick"] .trigger-status')).to_contain_text("Next")
    expect(page.locator("[data-run-now]")).to_have_count(0)

    page.goto(host.url + f"/app/flows/gated/runs/{waiting}")
    gate = page.locator('[data-gate="sign"]')
    expect(gate).to_contain_text("Answering needs the operator role (you are viewer)")
    expect(gate.locator("form")).to_have_count(0)
    node(page, "sign", "waiting")
    expect(page.locator("#cancel")).to_be_hidden()
    host.post(f"/flows/gated/runs/{waiting}/cancel")
    page.wait_for_selector('body[data-run-status="cancelled"]')
    expect(page.locator("#rerun")).to_be_hidden()
    page.click('g.node[data-node="sign"]')
    expect(page.locator("#rerun-from")).to_be_hidden()

    assert host.post("/stop", {"reason": "freeze"}).status_code == 200  # only an admin may resume
    banner = page.locator("#stop-banner")
    expect(banner).to_contain_text("freeze", timeout=15_000)
    expect(banner.get_by_role("button", name="Resume")).to_have_count(0)


def test_cancel_asks_first_and_only_a_yes_cancels(page: Page, host: FloeHost) -> None:
    run = host.trigger("slow")
    log_in_as(page, host, "otto", f"/app/flows/slow/runs/{run}")
    node(page, "nap", "running")
    asked: list[str] = []

    def say(answer: bool) -> Callable[[Dialog], None]:
        def handle(d: Dialog) -> None:
            asked.append(f"{d.type}: {d.message}")
            if answer:
                d.accept()
            else:
                d.dismiss()

        return handle

    page.once("dialog", say(False))
    page.click("#cancel")
    assert asked == [f"confirm: Cancel run {run}? Its running tasks are stopped."]
    expect(page.locator("#cancel")).to_have_text("Cancel run")  # nothing was sent
    assert page.evaluate("1") == 1  # the click's handler has returned
    assert host.run("slow", run)["status"] == "running"
    page.once("dialog", say(True))
    page.click("#cancel")
    page.wait_for_selector('body[data-run-status="cancelled"]')
    assert len(asked) == 2
    node(page, "nap", "cancelled")


def test_the_login_form_waits_for_its_script_and_never_puts_the_password_in_the_url(
    page: Page, host: FloeHost
) -> None:
    held: list[Route] = []
    page.route(re.compile(r"/static/js/login\.js"), lambda route: held.append(route))  # a slow script
    page.goto(host.url + "/app/login", wait_until="domcontentloaded")
    page.fill("#password", "secret-pw")
    button = page.locator("#login button[type=submit]")
    expect(button).to_be_disabled()  # before: enabled, and a click sent GET /app/login?password=...
    for _ in range(500):  # Playwright calls the route handler only inside its own calls
        if held:
            break
        page.wait_for_timeout(20)
    held[0].continue_()
    expect(button).to_be_enabled()
    assert "password" not in page.url
