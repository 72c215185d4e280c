"""A wheel built from this tree, installed in a fresh venv, serves a dashboard that runs its JavaScript."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_dashboard import ARGS, CHROMIUM, TOKEN
from tests.support.host import FloeHost

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "floe" / "server" / "static"
LEFTOVERS = ("build", "*.egg-info", ".venv", ".git", "__pycache__", ".*_cache", "bench-results")

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: demo
    name: Demo from a wheel
    ver: 1
    triggers:
      - {id: go, name: Go, type: data, opts: {form: {fields: []}}}
    tasks:
      - {id: hello, name: Hello, listen: trigger.good, type: exec, opts: {cmd: 'echo hello'}}
"""


def _run(*argv: str | Path) -> None:
    done = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    src = out / "src"  # a clean copy: a build/ left in the tree would hide missing package data
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(*LEFTOVERS))
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, src)
    (built,) = out.glob("floe-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", venv)
    _run(venv / "bin" / "pip", "install", "-q", wheel)
    return venv


@pytest.mark.timeout(600)
def test_the_wheel_holds_every_static_asset(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    assets = [p.relative_to(REPO).as_posix() for p in STATIC.rglob("*") if p.is_file()]
    assert any(a.endswith(".js") for a in assets)
    assert [a for a in assets if a not in names] == []


@pytest.fixture
def wheel_host(installed: Path, tmp_path: Path) -> Iterator[FloeHost]:
    host = FloeHost(tmp_path / "h1", CONFIG, command=[str(installed / "bin" / "floe")])
    try:
        yield host.start()
    finally:
        host.stop()
        host.http.close()


@pytest.mark.timeout(600)
def test_an_installed_wheel_serves_a_working_dashboard(wheel_host: FloeHost, installed: Path) -> None:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    where = subprocess.run(
        [installed / "bin" / "python", "-c", "import floe; print(floe.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=installed,
    ).stdout
    assert where.startswith(str(installed)), where  # the wheel's floe, not this tree's
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            page: Page = browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(wheel_host.url + "/app/dash")
            expect(page).to_have_url(re.compile(r"/app/login\?next="))
            page.fill("#password", TOKEN)
            page.click("#login button[type=submit]")  # the login form is driven by login.js
            expect(page).to_have_url(re.compile(re.escape(wheel_host.url + "/app/dash")))
            expect(page.locator("a", has_text="Demo from a wheel").first).to_be_visible()  # drawn by dash.js
            assert errors == []
        finally:
            browser.close()
