"""A wheel built from this tree, installed in a fresh venv, serves a dashboard that runs its JavaScript.

The wheel is built from a copy of the tree whose `webapp/` carries a marker in a template and in a
script, so a dashboard showing both can only have been served from the installed wheel."""

from __future__ import annotations

import email
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from playwright.sync_api import Browser, Page, Response, expect

from tests.support.host import TOKEN, FloeHost

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
WEBAPP = REPO / "webapp"
MARK = "built-into-the-wheel"  # only in the copy the wheel is built from, never in the tree
SITE = Path(sysconfig.get_paths()["purelib"])  # where this environment's packages are
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
    base = src / "webapp" / "templates" / "base.html"
    meta = f'<meta name="floe-wheel" content="{MARK}">\n'
    base.write_text(base.read_text().replace("</head>", meta + "</head>"))
    with (src / "webapp" / "static" / "js" / "main.js").open("a") as main:
        main.write(f"// {MARK}\n")
    _run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", out, src)
    (built,) = out.glob("floe-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel, which sees of this environment's packages only the wheel's
    runtime requirements and theirs (never a test tool): the same packages pip would fetch, linked
    instead of installed again (a minute of the suite)."""
    venv = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", python, "install", "-q", "--no-deps", wheel)
    with zipfile.ZipFile(wheel) as z:
        (meta,) = [n for n in z.namelist() if n.endswith(".dist-info/METADATA")]
        requires = email.message_from_bytes(z.read(meta)).get_all("Requires-Dist") or []
    deps = venv / "deps"
    deps.mkdir()
    for name in _closure(requires):
        (deps / name).symlink_to(SITE / name)
    (site,) = (venv / "lib").glob("python*/site-packages")
    (site / "wheel-deps.pth").write_text(f"{deps}\n")
    return venv


def _closure(requires: list[str]) -> set[str]:
    """The top-level names (packages, modules, dist-info) in this environment's site-packages of
    the distributions `requires` needs, at any depth (markers evaluated, extras followed)."""
    names: set[str] = set()
    todo = [(Requirement(r), "") for r in requires]
    seen: set[tuple[str, str]] = set()
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        dist = metadata.distribution(req.name)
        for wanted in ("", *req.extras):
            if (dist.name, wanted) in seen:
                continue
            seen.add((dist.name, wanted))
            todo += [(Requirement(r), wanted) for r in dist.requires or []]
        assert dist.files is not None, f"{dist.name} lists no files"
        names |= {f.parts[0] for f in dist.files if f.parts[0] != ".." and f.parts[0] != "__pycache__"}
    return names


@pytest.mark.timeout(600)
def test_the_wheel_holds_every_module_and_every_dashboard_file(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
    modules = [p.relative_to(REPO).as_posix() for p in (REPO / "floe").rglob("*.py")]
    webapp = [p.relative_to(WEBAPP).as_posix() for p in WEBAPP.rglob("*") if p.is_file() and _shipped(p)]
    assert any(f.startswith("static/js/") for f in webapp)
    assert any(f.startswith("templates/") for f in webapp)
    assert [m for m in modules if m not in names] == []  # a package missing from pyproject's list
    assert [f for f in webapp if f"floe/webapp/{f}" not in names] == []


def _shipped(path: Path) -> bool:
    return "__pycache__" not in path.parts


@pytest.fixture
def wheel_host(installed: Path, tmp_path: Path) -> Iterator[FloeHost]:
    host = FloeHost(tmp_path / "h1", CONFIG, command=[str(installed / "bin" / "floe")])
    try:
        yield host.start()
    finally:
        host.stop()
        host.http.close()


@pytest.mark.timeout(600)
def test_an_installed_wheel_serves_a_working_dashboard(
    wheel_host: FloeHost, installed: Path, browser: Browser
) -> None:
    where = subprocess.run(
        [installed / "bin" / "python", "-c", "import floe; print(floe.__file__)"],
        capture_output=True,
        text=True,
        check=True,
        cwd=installed,
    ).stdout
    assert where.startswith(str(installed)), where  # the wheel's floe, not this tree's
    context = browser.new_context()
    try:
        page: Page = context.new_page()
        errors: list[str] = []
        scripts: list[Response] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("response", lambda r: scripts.append(r) if "/static/js/" in r.url else None)
        page.goto(wheel_host.url + "/app/dash")
        expect(page).to_have_url(re.compile(r"/app/login\?next="))
        (main,) = [r for r in scripts if r.url.split("?")[0].endswith("/static/js/main.js")]
        assert main.status == 200 and MARK in main.text()  # its JavaScript, read while the page is open
        page.fill("#password", TOKEN)
        page.click("#login button[type=submit]")  # the login form is driven by login.js
        expect(page).to_have_url(re.compile(re.escape(wheel_host.url + "/app/dash")))
        expect(page.locator("a", has_text="Demo from a wheel").first).to_be_visible()  # drawn by dash.js
        expect(page.locator('meta[name="floe-wheel"]')).to_have_attribute("content", MARK)  # its template
        assert errors == []
    finally:
        context.close()
