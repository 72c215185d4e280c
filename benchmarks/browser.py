"""Time to interactive of the dashboard's home and of a run page with a 100,000-line log, in
headless Chromium (Playwright)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from playwright.async_api import async_playwright

from benchmarks.host import TOKEN, Host, wait_ended
from benchmarks.stats import spread
from tests.support.chromium import ARGS, CHROMIUM, VIEWPORT

EXEC_PREAMBLE = 3


def _flow(lines: int) -> str:
    return (
        "  - id: big\n    ver: 1\n    triggers: [{id: go, type: data}]\n    tasks:\n"
        "      - {id: print, listen: trigger.good, type: exec,\n"
        f"         opts: {{shell: 'seq -f \"line %g of a long log\" 1 {lines}'}}}}\n"
    )


async def browser(root: Path, sizes: Any) -> dict[str, Any]:
    """Home: navigation → the flow cards and recent runs drawn. Run page: navigation → the log's
    last line drawn; then a search's answer and a jump to the top."""
    lines = sizes.browser_lines
    total = lines + EXEC_PREAMBLE
    home: list[float] = []
    ready: list[float] = []
    search: list[float] = []
    top: list[float] = []
    async with Host(root, _flow(lines)) as host, host.events(flow="big", tags="sys.end.all") as ws:
        rid = await host.push(None, "big")
        await wait_ended(ws, [rid], 300)
        async with async_playwright() as p:
            chromium = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = await (await chromium.new_context(viewport=VIEWPORT)).new_page()
            page.set_default_timeout(120_000)
            await page.goto(host.url + "/app/login")
            await page.fill("#password", TOKEN)
            await page.click("#login button[type=submit]")
            await page.wait_for_url("**/app/dash")
            for _ in range(sizes.browser_repeats):
                await page.goto("about:blank")
                t0 = time.perf_counter()
                await page.goto(host.url + "/app/dash")
                await page.wait_for_selector('#flows [data-flow="big"]')
                await page.wait_for_selector(f'#recent [data-run="{rid}"]')
                home.append(time.perf_counter() - t0)
                await page.goto("about:blank")
                t0 = time.perf_counter()
                await page.goto(f"{host.url}/app/flows/big/runs/{rid}#node=print")
                await page.wait_for_selector(f'#log .ln[data-n="{total}"]', state="attached")
                ready.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await page.fill("#log-find", f"line {lines // 2} of")
                await page.wait_for_selector("#log-count:text-is('1 of 1')")
                search.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                await page.fill("#log-find", "")
                await page.eval_on_selector("#log", "el => { el.scrollTop = 0; }")
                await page.wait_for_selector('#log .ln[data-n="1"]')
                top.append(time.perf_counter() - t0)
            await chromium.close()
    return {
        "log_lines": total,
        "repeats": sizes.browser_repeats,
        "home_interactive_s": spread(home),
        "run_page_log_ready_s": spread(ready),
        "search_s": spread(search, 4),
        "jump_to_top_s": spread(top, 4),
        "target_s": 1.0,
        "note": "search includes the input's 150 ms debounce",
    }
