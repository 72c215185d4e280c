"""Everyday use of the dashboard in real Chromium: the home page's recent runs across flows, a flow's
history chart, a webhook flow's URL, the stop switch set and lifted from the page, the audit page."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from floe.server.passwords import hash_password
from tests.browser.test_dashboard import log_in
from tests.browser.test_roles_ui import log_in_as
from tests.support.host import FloeHost, wait_for

pytestmark = pytest.mark.browser

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  users:
    - {name: vera, role: viewer, password: "VERA"}
flows:
  - id: build
    name: Build
    ver: 1
    triggers:
      - id: go
        type: data
        opts:
          form:
            fields:
              - {id: branch, type: string}
              - {id: hash, type: string}
              - {id: fail, type: bool, default: false}
    tasks:
      - {id: make, listen: trigger.good, type: exec, opts: {shell: 'test "$FLOE_VALUE_FAIL" != true'}}
  - id: hook
    name: Hooked
    ver: 1
    triggers:
      - {id: signed, type: webhook, opts: {secret: "hook-secret"}}
      - {id: open, type: webhook}
    tasks:
      - {id: done, listen: trigger.good, type: end}
  - id: slow
    name: Long sleeper
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: nap, listen: trigger.good, type: exec, opts: {shell: 'sleep 60'}}
"""


@pytest.fixture
def host(floe_host: Callable[..., FloeHost]) -> FloeHost:
    return floe_host(CONFIG.replace('"VERA"', f'"{hash_password("vera-pw")}"'))


def signed_push(url: str, branch: str, after: str) -> httpx.Response:
    """A GitHub push, signed with the `signed` trigger's secret, posted to `url` without credentials."""
    body = json.dumps(
        {
            "ref": f"refs/heads/{branch}",
            "after": after,
            "repository": {"clone_url": "https://git.example/r.git"},
        }
    ).encode()
    sig = hmac.new(b"hook-secret", body, hashlib.sha256).hexdigest()
    headers = {"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={sig}"}
    return httpx.post(url, content=body, headers=headers, timeout=10)


def test_the_home_page_lists_recent_runs_of_every_flow(host: FloeHost, page: Page) -> None:
    built = host.trigger("build", "go", {"branch": "feature/x", "hash": "0123456789abcdef"})
    host.wait_run("build", built)
    hooked = signed_push(f"{host.url}/build/api/push/webhook/hook/signed", "main", "f" * 40).json()["run_id"]
    host.wait_run("hook", hooked)
    log_in(page, host, "/app/dash")
    rows = page.locator("#recent tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_have_attribute("data-run", hooked)  # newest first
    b = page.locator(f'#recent tr[data-run="{built}"]')
    expect(b).to_have_attribute("data-flow", "build")
    expect(b.locator('[data-col="status"]')).to_have_text("Succeeded")
    expect(b.locator('[data-col="branch"]')).to_have_text("feature/x")
    expect(b.locator('[data-col="commit"]')).to_have_text("0123456789")
    expect(b.locator('[data-col="by"]')).to_have_text("admin")
    expect(b.locator('[data-col="duration"]')).to_have_text(re.compile(r"^\d"))
    expect(b.locator('[data-col="ended"]')).not_to_be_empty()
    w = page.locator(f'#recent tr[data-run="{hooked}"]')
    expect(w.locator('[data-col="branch"]')).to_have_text("main")
    expect(w.locator('[data-col="by"]')).to_have_text("trigger signed")  # its audit entry
    live = host.trigger("slow")  # a new run shows up live, on top, running
    expect(rows.nth(0)).to_have_attribute("data-run", live)
    expect(rows.nth(0).locator('[data-col="status"]')).to_have_text("Running")
    assert host.post(f"/flows/slow/runs/{live}/cancel").status_code == 202


def test_the_history_chart_has_one_bar_per_run(host: FloeHost, page: Page) -> None:
    runs = [host.trigger("build", "go", {"fail": i == 1}) for i in range(3)]
    for run_id in runs:
        host.wait_run("build", run_id)
    log_in(page, host, "/app/flows/build")
    bars = page.locator("#history-chart svg.history-chart rect.bar")
    expect(bars).to_have_count(3)
    for i, run_id in enumerate(runs):  # oldest left; colour (data-status) is the result
        expect(bars.nth(i)).to_have_attribute("data-run", run_id)
        expect(bars.nth(i)).to_have_attribute("data-status", "bad" if i == 1 else "good")
        assert float(bars.nth(i).get_attribute("height") or 0) > 0
    assert page.locator("#history-chart table").count() == 0


def test_a_webhook_flow_page_shows_its_url_and_whether_it_is_signed(host: FloeHost, page: Page) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=host.url)
    log_in(page, host, "/app/flows/hook")
    signed = page.locator('[data-trigger="signed"]')
    field = signed.locator('[data-webhook-url="signed"]')
    expect(field).to_have_value(f"{host.url}/build/api/push/webhook/hook/signed")
    expect(signed.locator("[data-secret]")).to_have_attribute("data-secret", "yes")
    opened = page.locator('[data-trigger="open"]')
    expect(opened.locator('[data-webhook-url="open"]')).to_have_value(
        f"{host.url}/build/api/push/webhook/hook/open"
    )
    expect(opened.locator("[data-secret]")).to_have_attribute("data-secret", "no")
    signed.locator('[data-copy="signed"]').click()
    expect(signed.locator('[data-copy="signed"]')).to_have_text("Copied")
    url = page.evaluate("navigator.clipboard.readText()")
    assert url == field.input_value()
    r = signed_push(url, "main", "a" * 40)  # the URL as copied is the one the host serves
    assert r.status_code == 202 and r.json()["started"] is True, r.text
    assert host.wait_run("hook", r.json()["run_id"])["values"]["hash"] == "a" * 40


def test_an_admin_stops_and_resumes_dispatch_with_a_reason(host: FloeHost, page: Page) -> None:
    log_in(page, host, "/app/flows/build")
    page.select_option("#stop-scope", "build")
    page.fill("#stop-reason", "release freeze")
    page.click("#stop-form button[type=submit]")
    banner = page.locator("#stop-banner")
    expect(banner).to_contain_text("Dispatch stopped for flow build: release freeze")
    assert host.get("/stop").json()["stopped"] == {"build": "release freeze"}
    held = host.trigger("build", "go", {})
    assert host.run("build", held)["pending_reason"] == "dispatch stopped: release freeze"
    banner.get_by_role("button", name="Resume").click()
    expect(banner).to_be_hidden()
    assert host.get("/stop").json()["stopped"] == {}
    assert host.wait_run("build", held)["status"] == "good"
    page.goto(host.url + "/app/dash")  # on any other page it stops every flow
    page.fill("#stop-reason", "disk full")
    page.click("#stop-form button[type=submit]")
    expect(banner).to_contain_text("Dispatch stopped for all flows: disk full")
    banner.get_by_role("button", name="Resume").click()
    expect(banner).to_be_hidden()
    entries = host.get("/audit").json()["entries"]
    actions = [(e["action"], e["detail"]) for e in entries if e["action"] in ("stop", "go")]
    assert actions == [("go", ""), ("stop", "disk full"), ("go", ""), ("stop", "release freeze")]


def test_a_viewer_gets_no_stop_form_but_sees_the_audit_page(host: FloeHost, page: Page) -> None:
    host.post("/stop", {"reason": "maintenance"})
    log_in_as(page, host, "vera", "/app/audit")
    expect(page.locator("#stop-banner")).to_contain_text("maintenance")
    expect(page.locator("#audit tr[data-action=stop]")).to_have_count(1)
    expect(page.locator("#stop-form")).to_have_count(0)
    expect(page.locator("#stop-banner button")).to_have_count(0)
    assert host.post("/go").status_code == 200


def test_the_audit_page_lists_a_trigger_and_a_cancel(host: FloeHost, page: Page) -> None:
    run_id = host.trigger("slow")
    wait_for(lambda: host.run("slow", run_id)["status"] == "running", what="the run to start")
    log_in(page, host, f"/app/flows/slow/runs/{run_id}")
    page.once("dialog", lambda d: d.accept())
    page.locator("#cancel").click()
    assert host.wait_run("slow", run_id)["status"] == "cancelled"
    page.locator("header.top nav a", has_text="Audit").click()
    expect(page).to_have_url(host.url + "/app/audit")
    trig = page.locator("#audit tr[data-action=trigger]")
    expect(trig).to_have_count(1)
    expect(trig.locator('[data-col="by"]')).to_have_text("admin")
    expect(trig.locator('[data-col="run"] a')).to_have_attribute("href", f"/app/flows/slow/runs/{run_id}")
    cancel = page.locator("#audit tr[data-action=cancel]")
    expect(cancel).to_have_count(1)
    expect(cancel.locator('[data-col="run"]')).to_have_text(run_id)
    expect(page.locator("#audit tbody tr").first).to_have_attribute("data-action", "cancel")  # newest first
    page.fill("#audit-user", "vera")  # nobody else did anything
    page.click("#audit-filter button[type=submit]")
    expect(page).to_have_url(host.url + "/app/audit?user=vera")
    expect(page.locator("#audit .empty")).to_have_text("No entries.")
    page.fill("#audit-user", "")
    page.fill("#audit-flow", "slow")
    page.click("#audit-filter button[type=submit]")
    expect(page.locator("#audit tbody tr")).to_have_count(2)  # the login names no flow
    expect(page.locator("#audit tbody tr[data-action=login]")).to_have_count(0)
