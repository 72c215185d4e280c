"""Time to interactive of the run page with a 100,000-line log, in headless Chromium; prints JSON.

    .venv/bin/python scripts/bench_log.py [--lines 100000] [--repeats 3]

A real host (tests.support.host.FloeHost) runs a task printing `--lines` lines. The page is opened
on that node; "ready" is when the log's last line is drawn, "search" the time from typing a query
to its count, "top" the time from jumping to the first line to it being drawn, both measured once
"replayed" (the run's events, which carry each line's time, have all arrived).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright

from tests.support.chromium import ARGS, CHROMIUM, VIEWPORT
from tests.support.host import TOKEN, FloeHost

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: big
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: print, listen: trigger.good, type: exec, opts: {shell: 'seq -f "line %g of a long log" 1 LINES'}}
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        host = FloeHost(Path(tmp), CONFIG.replace("LINES", str(args.lines))).start()
        try:
            run = host.trigger("big")
            host.wait_run("big", run, timeout=300)
            total = len(host.node_log("big", run, "print").splitlines())
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
                page = browser.new_context(viewport=VIEWPORT).new_page()
                page.set_default_timeout(120_000)
                page.goto(host.url + "/app/login")
                page.fill("#password", TOKEN)
                page.click("#login button[type=submit]")
                page.wait_for_url("**/app/dash")
                ready, replayed, search, top = [], [], [], []
                for _ in range(args.repeats):
                    page.goto("about:blank")  # a fresh page each time
                    t0 = time.perf_counter()
                    page.goto(f"{host.url}/app/flows/big/runs/{run}#node=print")
                    page.wait_for_selector(f'#log .ln[data-n="{total}"]', state="attached")
                    ready.append(time.perf_counter() - t0)
                    # the replay of the run's events (which carry each line's time) has reached the end
                    page.wait_for_selector(f'#log .ln[data-n="{total}"][data-at]', state="attached")
                    replayed.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    page.fill("#log-find", f"line {args.lines // 2} of")
                    page.wait_for_selector("#log-count:text-is('1 of 1')")
                    search.append(time.perf_counter() - t0)
                    t0 = time.perf_counter()
                    page.fill("#log-find", "")
                    page.eval_on_selector("#log", "el => { el.scrollTop = 0; }")
                    page.wait_for_selector('#log .ln[data-n="1"]')
                    top.append(time.perf_counter() - t0)
                browser.close()
        finally:
            host.stop()
    ms = lambda xs: round(statistics.median(xs) * 1000, 1)  # noqa: E731
    print(
        json.dumps(
            {
                "lines": total,
                "ready_ms": ms(ready),
                "replayed_ms": ms(replayed),
                "search_ms": ms(search),
                "top_ms": ms(top),
                "ready_all_ms": [round(x * 1000, 1) for x in ready],
            }
        )
    )


if __name__ == "__main__":
    main()
