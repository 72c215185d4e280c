"""The dashboard in headless Debian Chromium, driven by Playwright against a real host."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.chromium import Console
from tests.support.host import TOKEN, FloeHost, free_port

pytestmark = pytest.mark.browser

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: demo
    name: Demo build
    ver: 1
    triggers:
      - id: start
        name: Start a build
        type: data
        opts:
          form:
            title: Start a demo build
            fields:
              - {id: branch, prompt: Branch, type: string, default: main, regex: "[A-Za-z0-9._/-]+"}
              - {id: jobs, prompt: Parallel jobs, type: int, default: 2}
              - {id: target, prompt: Target, type: choice, options: [linux, darwin], default: linux}
              - {id: fast, prompt: Skip slow tests, type: bool, default: false}
              - {id: owner, prompt: Owner, type: string, required: true}
    tasks:
      - id: prepare
        name: Prepare
        listen: trigger.good
        type: exec
        opts: {shell: 'echo "preparing the sources"'}
      - id: stream
        name: Build
        listen: task.prepare.good
        type: exec
        # a darwin build holds after its first line until the test lets it go on: "running" is
        # then a state the page must show, not a window it must catch on a busy machine
        opts: {shell: 'echo line 1; [ "$FLOE_VALUE_TARGET" != darwin ] ||
          until [ -e {root}/go-on ]; do sleep 0.05; done; echo line 2; echo line 3'}
      - id: check
        name: Lint
        listen: task.prepare.good
        type: exec
        opts: {shell: 'echo lint ok'}
      - id: both
        name: Checks passed
        class: merge
        type: all
        wait: [task.stream.good, task.check.good]
      - id: sign-off
        name: Sign off
        listen: merge.both.good
        type: data
        opts:
          form:
            title: Release this build?
            fields:
              - {id: approver, prompt: Your name, type: string, required: true}
              - {id: copies, prompt: Copies, type: int, default: 1}
      - id: publish
        name: Publish
        listen: task.sign-off.good
        type: exec
        opts: {shell: 'echo "published the build"'}
      - id: done
        listen: task.publish.good
        type: end
  - id: nightly
    name: Nightly tests
    ver: 1
    triggers:
      - {id: go, name: Go, type: data, opts: {form: {fields: []}}}
    tasks:
      - {id: unit, name: Unit tests, listen: trigger.good, type: exec, opts: {shell: 'echo ok'}}
      - {id: flaky, name: Flaky suite, listen: task.unit.good, type: exec,
         opts: {shell: 'f={root}/n; n=$(cat $f 2>/dev/null || echo 0); echo $((n+1)) > $f; test $n -ne 2'}}
  - id: hourly
    name: Hourly check
    ver: 1
    triggers:
      - {id: tick, name: Every hour, type: timer, opts: {period: 3600}}
    tasks:
      - {id: df, name: Disk space, listen: trigger.good, type: exec, opts: {cmd: 'df -h .'}}
  - id: slow
    name: Long sleeper
    ver: 1
    triggers:
      - {id: go, name: Go, type: data, opts: {form: {fields: []}}}
    tasks:
      - {id: nap, name: Sleep a minute, listen: trigger.good, type: exec,
         opts: {shell: 'echo going to sleep; sleep 60'}}
"""


@pytest.fixture
def host(floe_host: Callable[..., FloeHost]) -> FloeHost:
    return floe_host(CONFIG)


def bad_request(status: int, path: str) -> str:
    """The console line Chromium writes for a fetch answered with `status`."""
    return rf"status of {status} .*{re.escape(path)}"


def log_in(page: Page, host: FloeHost, path: str = "/app/dash") -> None:
    page.goto(host.url + path)
    expect(page).to_have_url(re.compile(r"/app/login\?next="))
    expect(page.locator("#login button[type=submit]")).to_be_enabled()  # login.js is running
    page.fill("#password", TOKEN)
    page.click("#login button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(host.url + path) + "(#.*)?$"))


def node(page: Page, node_id: str, state: str) -> None:
    page.wait_for_selector(f'svg.graph g.node[data-node="{node_id}"][data-state="{state}"]')


def test_log_in_and_out(page: Page, host: FloeHost, console: Console) -> None:
    console.allow.append(bad_request(401, "/build/api/login"))
    page.goto(host.url + "/app/flows/demo")
    expect(page).to_have_url(re.compile(r"/app/login\?next=/app/flows/demo$"))
    expect(page.locator("#user")).to_have_value("admin")
    page.fill("#password", "not the token")
    page.click("#login button[type=submit]")
    expect(page.locator("#login .form-error")).to_have_text("Wrong user or password.")
    page.fill("#password", TOKEN)
    page.click("#login button[type=submit]")
    expect(page).to_have_url(host.url + "/app/flows/demo")
    expect(page.locator("h1")).to_have_text("Demo build")
    cookie = next(c for c in page.context.cookies() if c["name"] == "floe-sesh")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    console.allow.append(r"status of 401 .*/build/api/")  # a poll in flight as the session ends
    page.click("#logout")
    expect(page).to_have_url(host.url + "/app/login")
    page.goto(host.url + "/app/dash")
    expect(page).to_have_url(re.compile(r"/app/login\?next=/app/dash"))


def test_login_never_sends_the_browser_to_another_site(host: FloeHost, page: Page) -> None:
    elsewhere: list[str] = []  # requests to any other origin, aborted: they never leave the page
    page.route(
        re.compile(rf"^(?!{re.escape(host.url)}/)"),
        lambda route: (elsewhere.append(route.request.url), route.abort()),
    )
    other = f"127.0.0.1:{free_port()}"
    page.goto(f"{host.url}/app/login?next=/%09/{other}/")  # the browser drops the tab: //127.0.0.1:…
    page.fill("#password", TOKEN)
    page.click("#login button[type=submit]")
    expect(page).to_have_url(host.url + "/app/dash")  # before: off to http://127.0.0.1:<other>/
    assert elsewhere == []


def test_run_a_flow_from_its_form_and_follow_it_live(
    page: Page, host: FloeHost, console: Console, tmp_path: Path
) -> None:
    console.allow.append(bad_request(400, "/build/api/push/data"))
    log_in(page, host, "/app/flows/demo")
    form = page.locator('form[data-form="start"]')
    expect(form.locator('[data-field="owner"] label .req')).to_have_text("*")  # required is marked
    expect(form.locator('[name="jobs"]')).to_have_attribute("type", "number")
    expect(form.locator('[name="target"]')).to_have_value("linux")
    expect(form.locator('[name="fast"]')).to_have_attribute("type", "checkbox")
    expect(form.locator('[name="branch"]')).to_have_attribute("pattern", "[A-Za-z0-9._/-]+")

    def submit_and_expect(field_id: str, message: str) -> None:
        form.locator("button[type=submit]").click()
        err = form.locator(f'[data-field="{field_id}"] .err')
        expect(err).to_contain_text(message)
        expect(form.locator(f'[data-field="{field_id}"]')).to_have_class(re.compile("invalid"))

    form.locator('[name="owner"]').fill("ada")
    form.locator('[name="branch"]').fill("not a branch!")  # the API's regex check, shown inline
    submit_and_expect("branch", "does not match")
    form.locator('[name="branch"]').fill("release/1.2")
    form.locator('[name="jobs"]').fill("2.5")  # not an integer: the API says so
    submit_and_expect("jobs", "must be an integer")
    form.locator('[name="jobs"]').fill("4")
    form.locator('[name="owner"]').fill("")
    submit_and_expect("owner", "is required")
    expect(form.locator('[data-field="branch"] .err')).to_be_hidden()
    form.locator('[name="owner"]').fill("ada")
    form.locator('[name="target"]').select_option("darwin")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/app/flows/demo/runs/h1-\d+$"))
    page.evaluate("window.__same_page = true")  # gone if anything reloads the page

    node(page, "stream", "running")  # the pulse
    page.click('g.node[data-node="stream"]')
    expect(page.locator("#log")).to_contain_text("line 1")
    node(page, "stream", "running")  # still running: the line came live
    (host.root / "go-on").touch()
    expect(page.locator("#log")).to_contain_text("line 3")
    node(page, "stream", "good")
    # fetched and streamed, yet no line twice
    expect(page.locator("#log .line", has_text=re.compile(r"^line \d$"))).to_have_count(3)
    node(page, "prepare", "good")
    node(page, "sign-off", "waiting")
    page.click('g.node[data-node="prepare"]')
    expect(page.locator("#log")).to_contain_text("preparing the sources")
    chips = page.locator("#values .chip")
    expect(chips).to_contain_text(["branch = release/1.2", "jobs = 4", "target = darwin", "fast = false"])

    gate = page.locator('[data-gate="sign-off"] form')
    expect(gate.locator('[name="copies"]')).to_have_value("1")
    gate.locator('[name="copies"]').fill("1.5")
    gate.locator("button[type=submit]").click()
    expect(gate.locator('[data-field="copies"] .err')).to_contain_text("must be an integer")
    gate.locator('[name="copies"]').fill("2")
    gate.locator("button[type=submit]").click()  # kept by the host, which still waits for a name
    expect(gate.locator('[data-field="approver"] .err')).to_contain_text("is required")
    node(page, "sign-off", "waiting")
    gate.locator('[name="approver"]').fill("grace")
    gate.locator("button[type=submit]").click()
    node(page, "publish", "good")
    page.wait_for_selector('body[data-run-status="good"]')
    expect(page.locator('[data-gate="sign-off"]')).to_have_count(0)
    expect(page.locator("#status .pill")).to_have_text("Succeeded")
    expect(page.locator("#cancel")).to_be_hidden()
    expect(page.locator(".tl-row")).to_have_count(7)  # every node that ran is on the timeline
    page.click('g.node[data-node="publish"]')
    expect(page.locator("#log")).to_contain_text("published the build")
    assert page.evaluate("window.__same_page") is True
    page.click('g.node[data-node="stream"]')
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)  # docs/img's: scripts/screenshots
    assert (tmp_path / "run.png").read_bytes().startswith(b"\x89PNG")


def test_cancel_a_long_run(page: Page, host: FloeHost) -> None:
    run = host.trigger("slow")
    log_in(page, host, f"/app/flows/slow/runs/{run}")
    node(page, "nap", "running")
    expect(page.locator("#log")).to_contain_text("going to sleep")
    page.once("dialog", lambda d: d.accept())  # "Cancel run h1-1?"
    page.click("#cancel")
    page.wait_for_selector('body[data-run-status="cancelled"]')
    node(page, "nap", "cancelled")
    expect(page.locator("#cancel")).to_be_hidden()
    expect(page.locator("#reason")).to_contain_text("cancelled")


def test_dashboard_and_flow_page_update_live(page: Page, host: FloeHost, tmp_path: Path) -> None:
    for _ in range(5):  # the third fails
        run = host.trigger("nightly")
        host.wait_run("nightly", run)
    for finish in ("answer", "cancel", ""):
        gated = host.trigger("demo", "start", {"owner": "ada"})
        host.wait_run("demo", gated, ("waiting",))
        if finish == "answer":
            host.push("demo", "sign-off", {"approver": "grace"}, run=gated)
            host.wait_run("demo", gated)
        elif finish == "cancel":
            host.post(f"/flows/demo/runs/{gated}/cancel")
            host.wait_run("demo", gated)
    log_in(page, host, "/app/dash")
    card = page.locator('.flow-card[data-flow="nightly"]')
    expect(card.locator('.dot[data-status="good"]')).to_have_count(4)
    expect(card.locator('.dot[data-status="bad"]')).to_have_count(1)
    expect(page.locator('.flow-card[data-flow="demo"] [data-count="active"] b')).to_have_text("1")
    row = page.locator('tr[data-host="h1"]')
    expect(row.locator(".chip")).to_have_text(["linux"])
    expect(row.locator(".health")).to_have_text("Online")

    slow = host.trigger("slow")  # shows up without a reload
    expect(page.locator('.flow-card[data-flow="slow"] [data-count="active"] b')).to_have_text("1")
    expect(page.locator('[data-stat="active"] .n')).to_have_text("2")
    page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
    host.post(f"/flows/slow/runs/{slow}/cancel")
    expect(page.locator('.flow-card[data-flow="slow"] .dot[data-status="cancelled"]')).to_have_count(1)

    card.click()
    expect(page).to_have_url(host.url + "/app/flows/nightly")
    expect(page.locator("#archive tbody tr")).to_have_count(5)
    fresh = host.trigger("nightly")
    expect(page.locator(f'#archive tr[data-run="{fresh}"]')).to_have_count(1)
    page.goto(host.url + "/app/flows/demo")
    expect(page.locator(f'#active tr[data-run="{gated}"] .pill')).to_have_text("Waiting")
    expect(page.locator("#archive tbody tr .pill")).to_have_text(["Cancelled", "Succeeded"])
    page.screenshot(path=str(tmp_path / "flow.png"), full_page=True)
    page.goto(host.url + "/app/flows/hourly")  # a timer: no form, its schedule instead
    expect(page.locator('[data-trigger="tick"] .trigger-status')).to_contain_text("Next")


def test_the_archive_is_paged(page: Page, host: FloeHost) -> None:
    runs = [host.trigger("nightly") for _ in range(23)]
    for run in runs:
        host.wait_run("nightly", run)
    log_in(page, host, "/app/flows/nightly")
    expect(page.locator("#archive tbody tr")).to_have_count(20)
    expect(page.locator("#archive tbody tr").first).to_have_attribute("data-run", runs[-1])
    page.click("#older")
    expect(page.locator("#archive tbody tr")).to_have_count(3)
    expect(page.locator("#archive tbody tr").last).to_have_attribute("data-run", runs[0])
    expect(page.locator("#older")).to_be_disabled()
    page.click("#newer")
    expect(page.locator("#archive tbody tr")).to_have_count(20)


def test_the_view_recovers_after_a_host_restart(page: Page, host: FloeHost, console: Console) -> None:
    # while the host is down, Chromium reports the failed socket attempts: expected here
    console.allow += [r"WebSocket connection to .* failed", r"ERR_CONNECTION_REFUSED"]
    log_in(page, host, "/app/flows/nightly")
    page.wait_for_selector('#live[data-state="open"]')
    page.evaluate("window.__same_page = true")
    host.stop()
    page.wait_for_selector('#live[data-state="retrying"]')
    host.start()
    page.wait_for_selector('#live[data-state="open"]')
    run = host.trigger("nightly")
    expect(page.locator(f'tr[data-run="{run}"]')).to_have_count(1)
    expect(page.locator(f'#archive tr[data-run="{run}"] .pill')).to_have_text("Succeeded")
    assert page.evaluate("window.__same_page") is True


def test_the_stop_switch_shows_in_red_and_resumes(page: Page, host: FloeHost) -> None:
    log_in(page, host)
    assert host.post("/stop", {"reason": "release freeze"}).status_code == 200
    banner = page.locator("#stop-banner")
    expect(banner).to_contain_text("Dispatch stopped for all flows: release freeze", timeout=15_000)
    color = banner.evaluate("el => getComputedStyle(el).backgroundColor")
    assert color.startswith("rgb(") and int(color[4:].split(",")[0]) > 150  # red
    banner.get_by_role("button", name="Resume").click()
    expect(banner).to_be_hidden()
    assert host.get("/stop").json()["stopped"] == {}
