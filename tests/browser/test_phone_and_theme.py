"""Every page fits a phone's width, and the dashboard follows the system's dark setting (real Chromium)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser.test_dashboard import host as host  # a fixture, also a parameter name below
from tests.browser.test_dashboard import log_in, node
from tests.support.chromium import WAIT, Console, open_page
from tests.support.host import FloeHost

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser, console: Console) -> Iterator[Page]:
    yield from open_page(browser, console, viewport=PHONE, is_mobile=True, has_touch=True)


def overflow(page: Page) -> dict[str, object]:
    """What of the page is wider than the phone: the page itself, elements sticking out past its right edge
    (not counting those inside a box that scrolls or clips them), and tables wider than their card."""
    return page.evaluate(
        """(W) => {
          const name = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
            + (typeof el.className === "string" && el.className ? "." + el.className.replaceAll(" ", ".")
               : "");
          const clipped = (el) => {
            for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
              if (getComputedStyle(a).overflowX !== "visible") return true;
            }
            return false;
          };
          const shown = [...document.querySelectorAll("body *")].filter((el) => el.getClientRects().length);
          const out = {};
          if (document.documentElement.scrollWidth > W) out.page = document.documentElement.scrollWidth;
          const past = shown.filter((el) => el.getBoundingClientRect().right > W + 0.5 && !clipped(el));
          if (past.length) out.elements = past.slice(0, 6).map(name);
          const wide = [...document.querySelectorAll("table")].filter((t) => {
            const card = t.closest(".card");
            return card && t.getBoundingClientRect().right > card.getBoundingClientRect().right + 0.5;
          });
          if (wide.length) out.tables = wide.map((t) => name(t.parentElement));
          return out;
        }""",
        PHONE["width"],
    )


def test_every_page_fits_a_phone(phone: Page, host: FloeHost) -> None:
    run = host.trigger("demo", "start", {"owner": "ada"})
    host.wait_run("demo", run, ("waiting",))
    for _ in range(2):
        host.wait_run("nightly", host.trigger("nightly"))
    wide: dict[str, object] = {}
    phone.goto(host.url + "/app/login")
    expect(phone.locator("#login button[type=submit]")).to_be_enabled()
    wide["login"] = overflow(phone)
    log_in(phone, host, "/app/dash")
    expect(phone.locator('tr[data-host="h1"]')).to_have_count(1)
    expect(phone.locator('.flow-card[data-flow="nightly"] .dot[data-status="good"]')).to_have_count(2)
    wide["dash"] = overflow(phone)
    phone.goto(host.url + "/app/flows/nightly")
    expect(phone.locator("#archive tbody tr")).to_have_count(2)
    wide["flow"] = overflow(phone)
    phone.goto(host.url + "/app/flows/demo")
    expect(phone.locator(f'#active tr[data-run="{run}"]')).to_have_count(1)
    wide["flow with a form"] = overflow(phone)
    phone.goto(host.url + f"/app/flows/demo/runs/{run}")
    node(phone, "sign-off", "waiting")
    expect(phone.locator('[data-gate="sign-off"] form')).to_be_visible()
    phone.click('g.node[data-node="stream"]')
    expect(phone.locator("#log")).to_contain_text("line 3")
    wide["run"] = overflow(phone)
    assert {page: what for page, what in wide.items() if what} == {}


def luminance(page: Page, selector: str, prop: str = "backgroundColor") -> float:
    """0 (black) to 1 (white): how light an element's colour is."""
    rgb = page.locator(selector).first.evaluate(f"el => getComputedStyle(el).{prop}")
    r, g, b = (int(x) for x in rgb[rgb.index("(") + 1 : rgb.index(")")].split(",")[:3])
    return (0.2126 * r + 0.7152 * g + 0.0722 * b) / 255


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_the_theme_follows_the_system_setting(browser: Browser, host: FloeHost, scheme: str) -> None:
    context = browser.new_context(viewport=PHONE, color_scheme=scheme)  # type: ignore[arg-type]
    context.set_default_timeout(WAIT)
    page = context.new_page()
    try:
        run = host.trigger("nightly")
        host.wait_run("nightly", run)
        log_in(page, host, f"/app/flows/nightly/runs/{run}")
        page.click('g.node[data-node="unit"]')
        expect(page.locator("#log")).to_contain_text("echo ok")
        dark = scheme == "dark"
        for selector in ("body", ".card", "#log-times", "#log-find", "header.top"):
            assert (luminance(page, selector) < 0.2) is dark, selector
        assert (luminance(page, "body", "color") > 0.8) is dark  # the text stays readable
        assert luminance(page, "#log") < 0.2  # the log is dark in both
    finally:
        context.close()
