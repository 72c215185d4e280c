"""What the dashboard can be trusted with, in real Chromium: a host that cannot be asked is named,
and a gate shows its title, who answered it, when, and with what."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from floe.server.passwords import hash_password
from tests.browser.test_dashboard import bad_request, node
from tests.e2e.test_roles import session
from tests.support.chromium import Console
from tests.support.host import TOKEN, FloeHost, cluster_hosts, start_cluster, stop_all

pytestmark = pytest.mark.browser

CLUSTER = """
common:
  hosts: [{hosts}]
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: special
    name: Special build
    ver: 1
    host-tags: [special]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: work, name: Work, listen: trigger.good, type: exec, opts: {shell: "echo worked"}}
"""

GATED = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  users:
    - {name: otto, role: operator, password: "OTTO"}
flows:
  - id: release
    name: Release
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: sign-off
        name: Sign off
        listen: trigger.good
        type: data
        opts:
          resolvers: {role: admin}
          form:
            title: Release this build?
            fields:
              - {id: approver, prompt: Your name, type: string, required: true}
              - {id: copies, prompt: Copies, type: int, default: 1}
              - {id: notes, prompt: Notes, type: string, default: ""}
      - {id: ship, name: Ship, listen: task.sign-off.good, type: exec, opts: {shell: "echo shipped"}}
"""


def log_in(page: Page, host: FloeHost, path: str) -> None:
    """Log in once the login page's script has taken the form (it focuses the password box): a
    click before that would submit the form without it."""
    page.goto(host.url + path)
    expect(page).to_have_url(re.compile(r"/app/login\?next="))
    expect(page.locator("#password")).to_be_focused()
    page.fill("#password", TOKEN)
    page.click("#login button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(host.url + path) + "(#.*)?$"))


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[list[FloeHost]]:
    hosts = cluster_hosts(tmp_path, CLUSTER, ["linux", "linux,special"])
    try:
        start_cluster(hosts)
        yield hosts
    finally:
        stop_all(hosts)


def test_a_stopped_host_is_named_instead_of_its_runs_silently_missing(
    pair: list[FloeHost], page: Page, console: Console
) -> None:  # pair first: its hosts are set up before the page, so they stop after it closes
    h1, h2 = pair
    run = h1.trigger("special")
    assert h2.wait_run("special", run)["status"] == "good"
    log_in(page, h1, "/app/flows/special")
    expect(page.locator(f'#archive tr[data-run="{run}"]')).to_have_count(1)
    expect(page.locator("#partial")).to_be_hidden()
    h2.stop()
    console.allow.append(r"status of 502 ")  # none is expected; a log fetch would be one
    page.reload()
    banner = page.locator("#partial")
    expect(banner).to_have_text("Host h2 is unreachable: its runs are not shown")
    expect(page.locator(f'#archive tr[data-run="{run}"]')).to_have_count(0)
    page.goto(f"{h1.url}/app/dash")
    expect(page.locator("#partial")).to_have_text("Host h2 is unreachable: its runs are not shown")

    page.goto(f"{h1.url}/app/flows/special/runs/{run}")  # h1 only knows it handed the run over
    expect(page.locator("#partial")).to_contain_text("Host h2 is unreachable: this is what h1 last knew")
    expect(page.locator('[data-k="started"] .v')).to_have_text("unknown")  # not "not yet"
    expect(page.locator("#reason")).to_contain_text("exec host h2 unreachable")
    expect(page.locator("#log")).to_contain_text("The log is on h2, which cannot be reached.")
    assert [e for e in console.errors if "502" in e] == []


@pytest.fixture
def gated(floe_host: Callable[..., FloeHost]) -> FloeHost:
    return floe_host(GATED.replace('"OTTO"', f'"{hash_password("otto-pw")}"'))


def test_a_gate_shows_its_title_and_who_answered_when_with_what(
    page: Page, gated: FloeHost, console: Console
) -> None:
    console.allow.append(bad_request(400, "/build/api/push/data"))
    host = gated
    run = host.trigger("release")
    host.wait_run("release", run, ("waiting",))
    refused = session(host, "otto").post(
        "/push/data",
        json={
            "Ref": {"ID": "release", "Ver": 1},
            "Run": run,
            "Form": {"ID": "sign-off", "Values": {"approver": "otto"}},
        },
    )
    assert refused.status_code == 403
    log_in(page, host, f"/app/flows/release/runs/{run}")
    gate = page.locator('[data-gate="sign-off"]')
    expect(gate.locator("header h2")).to_have_text("Release this build?")
    expect(gate.locator("header .hint")).to_have_text("Sign off is waiting for input")
    expect(gate.locator(".resolvers")).to_have_text("Only role admin or above may answer.")
    form = gate.locator("form")
    form.locator('[name="approver"]').fill("ada")
    form.locator('[name="copies"]').fill("1.5")  # a 400: not an answer
    form.locator("button[type=submit]").click()
    expect(form.locator('[data-field="copies"] .err')).to_contain_text("must be an integer")
    form.locator('[name="copies"]').fill("2")
    form.locator('[name="notes"]').fill("ship it")
    before = time.time()
    form.locator("button[type=submit]").click()
    node(page, "ship", "good")
    answer = page.locator('[data-answer="sign-off"]')
    at = datetime.fromtimestamp(host.run("release", run)["nodes"][0]["stopped"]).strftime("%H:%M")
    expect(answer.locator(".answer")).to_have_text(
        f"Answered by admin at {at}: approver=ada, copies=2, notes=ship it"
    )
    expect(answer.locator("header h2")).to_have_text("Release this build?")
    expect(page.locator('[data-gate="sign-off"]')).to_have_count(0)

    trail = [e for e in host.get("/audit").json()["entries"] if e["action"] == "answer"]
    assert [(e["by"], e["run_id"], e["detail"]) for e in trail] == [
        ("admin", run, "sign-off: approver=ada, copies=2, notes=ship it")
    ]  # the 403 and the 400 are not answers
    assert trail[0]["at"] >= before - 1
    per_run = [e["detail"] for e in host.run("release", run)["audit"] if e["action"] == "answer"]
    assert per_run == ["sign-off: approver=ada, copies=2, notes=ship it"]
    assert re.fullmatch(r"\d\d:\d\d", at)
