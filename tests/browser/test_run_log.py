"""The run page's log in real Chromium: colours, line numbers and times, search, follow, download."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_dashboard import log_in
from tests.support.host import FloeHost

pytestmark = pytest.mark.browser

CONFIG = r"""
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: logs
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: paint
        listen: trigger.good
        type: exec
        opts:
          shell: >-
            printf '\033[31mred\033[0m plain \033[1;32mbold green\033[0m\n';
            printf '\033[2K\033]0;a title\007\033[?25lclean \033[38;2;31;32;33mrgb\033[0m\n';
            printf '<b>not bold</b> <img src=x onerror=alert(1)>\n';
            n=Nee; for i in $(seq 1 300); do
              if [ $((i % 100)) -eq 50 ]; then echo "row $i ${n}dle"; else echo "row $i"; fi;
            done
  - id: chatty
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: talk
        listen: trigger.good
        type: exec
        opts:
          shell: >-
            for stage in 1 2 3; do
              for i in $(seq 1 150); do echo "stage $stage line $i"; done;
              while [ $stage -lt 3 ] && [ ! -e {root}/go$stage ]; do sleep 0.05; done;
            done
"""


def number(host: FloeHost, run: str, text: str) -> int:
    """The line number of `text` in the paint task's log."""
    return host.node_log("logs", run, "paint").split("\n").index(text) + 1


def test_colours_are_shown_and_other_escapes_dropped(
    page: Page,
    floe_host: Callable[..., FloeHost],
) -> None:
    host = floe_host(CONFIG)
    run = host.trigger("logs")
    host.wait_run("logs", run)
    log_in(page, host, f"/app/flows/logs/runs/{run}")
    log = page.locator("#log")
    expect(log.locator(".line").last).to_have_text("row 300")
    log.evaluate("el => { el.scrollTop = 0; }")  # the top of the log
    first = log.locator(".line", has_text=re.compile("^red plain bold green$"))
    printed = "\x1b[31mred\x1b[0m plain \x1b[1;32mbold green\x1b[0m"
    expect(first.locator(".ln")).to_have_attribute("data-n", str(number(host, run, printed)))
    red = first.locator("span.ansi-31")
    expect(red).to_have_text("red")
    assert red.evaluate("el => getComputedStyle(el).color") == "rgb(255, 123, 114)"
    bold = first.locator("span.ansi-32.ansi-bold")
    expect(bold).to_have_text("bold green")
    assert bold.evaluate("el => getComputedStyle(el).fontWeight") == "700"
    second = log.locator(".line", has_text=re.compile("^clean rgb$"))
    expect(second).to_have_count(1)  # erase, title, cursor and 24-bit colour codes: dropped
    assert second.locator("[class^=ansi]").count() == 0  # 38;2;31;… is no red
    third = log.locator(".line", has_text=re.compile("^<b>not bold</b> <img src=x onerror=alert\\(1\\)>$"))
    expect(third).to_have_count(1)  # text, never markup
    assert log.locator("b, img").count() == 0
    assert "\x1b" not in log.inner_text()
    # each line's time, from its event, on hover of its number
    expect(first.locator(".ln")).to_have_attribute("title", re.compile(r"^.+ \(\d\d:\d\d:\d\d\.\d{3}\)$"))
    page.click("#log-times")
    expect(page.locator("#log-times")).to_have_attribute("aria-pressed", "true")
    at = first.locator(".ln").evaluate("el => getComputedStyle(el, '::after').content")
    assert json.loads(at)[:2].isdigit() and at.count(":") == 2


def test_the_colour_parser_handles_each_kind_of_sequence(
    page: Page,
    floe_host: Callable[..., FloeHost],
) -> None:
    host = floe_host(CONFIG)
    log_in(page, host)
    cases = [  # raw line, previous line (its colour carries over), visible text, styled runs
        ["\x1b[31mred\x1b[0m", "", "red", [[0, 3, "ansi-31"]]],
        ["\x1b[1;92mX", "", "X", [[0, 1, "ansi-92 ansi-bold"]]],
        ["\x1b[31ma\x1b[39mb\x1b[1mc\x1b[22md", "", "abcd", [[0, 1, "ansi-31"], [2, 3, "ansi-bold"]]],
        ["\x1b[38;5;31mY\x1b[48;2;31;32;33mZ\x1b[m", "", "YZ", None],
        ["\x1b[2K\x1b[1G\x1b[?25ldone", "", "done", None],
        ["\x1b]0;title\x07after\x1b]8;;http://127.0.0.1/\x1b\\link", "", "afterlink", None],
        ["50%\r100%", "", "100%", None],
        ["crlf\r", "", "crlf", None],
        ["a\x07b\x08c\x00d\ttab", "", "abcd\ttab", None],
        ["next", "\x1b[33mstart", "next", [[0, 4, "ansi-33"]]],
        ["next", "\x1b[33mstart\x1b[0m", "next", None],
        ["\x9b31mcsi8", "", "csi8", None],
        ["<b>&amp;</b>", "", "<b>&amp;</b>", None],
    ]
    got = page.evaluate(
        """async (cases) => {
          const { parse, RESET } = await import("/static/js/ansi.js");
          return cases.map(([raw, before]) => {
            const line = parse(raw, before ? parse(before, RESET).state : RESET);
            return [line.text, line.runs];
          });
        }""",
        cases,
    )
    page.goto("about:blank")  # no page polls the host as it stops
    assert got == [[text, runs] for _, _, text, runs in cases]


def test_search_counts_highlights_and_steps_through_matches(
    page: Page,
    floe_host: Callable[..., FloeHost],
) -> None:
    host = floe_host(CONFIG)
    run = host.trigger("logs")
    host.wait_run("logs", run)
    log_in(page, host, f"/app/flows/logs/runs/{run}")
    log = page.locator("#log")
    expect(log.locator(".line").last).to_have_text("row 300")
    page.fill("#log-find", "needle")  # any case
    count = page.locator("#log-count")
    lines = [number(host, run, f"row {n} Needle") for n in (50, 150, 250)]
    current = log.locator("mark.current")

    def at(k: int) -> None:
        expect(count).to_have_text(f"{k + 1} of 3")
        expect(current).to_have_text("Needle")
        expect(current).to_be_in_viewport()
        row = log.locator(".line").filter(has=page.locator("mark.current"))
        expect(row.locator(".ln")).to_have_attribute("data-n", str(lines[k]))

    at(0)  # from the top line in sight, following the end: wraps around to the first
    expect(page.locator("#log-follow")).to_have_attribute("aria-pressed", "false")
    page.press("#log-find", "Enter")
    at(1)
    page.click("#log-next")
    at(2)
    page.click("#log-next")
    at(0)  # wraps around
    page.press("#log-find", "Shift+Enter")
    at(2)
    page.click("#log-prev")
    at(1)
    page.fill("#log-find", "no such text")
    expect(count).to_have_text("No matches")
    expect(log.locator("mark")).to_have_count(0)
    page.fill("#log-find", "")
    expect(count).to_have_text("")


def test_follow_stops_when_the_reader_scrolls_up_and_resumes(
    page: Page,
    floe_host: Callable[..., FloeHost],
    tmp_path: Path,
) -> None:
    host = floe_host(CONFIG)
    root = tmp_path / "h1"
    run = host.trigger("chatty")
    log_in(page, host, f"/app/flows/chatty/runs/{run}")
    log = page.locator("#log")
    follow = page.locator("#log-follow")
    expect(log.locator(".line").last).to_have_text("stage 1 line 150")  # following: the end is in sight
    expect(follow).to_have_attribute("aria-pressed", "true")
    log.hover()
    page.mouse.wheel(0, -600)  # the reader scrolls up
    expect(follow).to_have_attribute("aria-pressed", "false")
    expect(follow).to_have_text("Follow")
    (root / "go1").touch()
    host.wait_line(run, "talk", lambda line: line == "stage 2 line 150")
    page.wait_for_function(  # the 150 new lines are in the box, out of sight
        "n => document.querySelector('#log .log-size').offsetHeight >= n * 20", arg=300
    )
    assert log.evaluate("el => el.scrollHeight - el.scrollTop - el.clientHeight") > 100 * 20  # not at the end
    expect(log.locator(".line", has_text="stage 2 line 150")).to_have_count(0)
    follow.click()
    expect(follow).to_have_attribute("aria-pressed", "true")
    expect(log.locator(".line").last).to_have_text("stage 2 line 150")
    (root / "go2").touch()
    expect(log.locator(".line").last).to_have_text("stage 3 line 150")  # and keeps following
    expect(log.locator(".line").last).to_be_in_viewport()


def test_download_raw_saves_the_log_as_printed(
    page: Page,
    floe_host: Callable[..., FloeHost],
    tmp_path: Path,
) -> None:
    host = floe_host(CONFIG)
    run = host.trigger("logs")
    host.wait_run("logs", run)
    log_in(page, host, f"/app/flows/logs/runs/{run}")
    expect(page.locator("#log")).to_contain_text("row 300")
    with page.expect_download() as info:
        page.click("#raw-log")
    assert info.value.suggested_filename == f"{run}-paint.log"
    saved = tmp_path / "saved.log"
    info.value.save_as(saved)
    raw = saved.read_text()
    assert raw == host.node_log("logs", run, "paint")
    assert "\x1b[31mred\x1b[0m" in raw
