"""Triggers against a real Hub and MemoryStore in the test's event loop: poll-git on real
repositories, timers across restarts, reloads, and webhooks served over loopback HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from floe.config import parse_config
from floe.config.sources import SourceFlowFiles
from floe.hub.hub import HostInfo, Hub
from floe.hub.reload import Reloader, ReloadError
from floe.server import reload
from floe.server import webhooks as webhook
from floe.server.auth import AuthMiddleware, Sessions
from floe.server.context import Context
from floe.server.errors import HANDLERS
from floe.server.roles import Roles
from floe.server.routes import role_rules
from floe.store.memory import MemoryStore
from floe.triggers.parts import TriggerParts
from floe.triggers.service import Triggers
from floe.triggers.status import TriggerKey, TriggerStatus
from tests.support.gitrepo import Repo

TOKEN = "admin-token"
BASE = "/build/api"


class WatchedStatus(TriggerStatus):
    """A TriggerStatus the test can wait on: every change notifies `changed`."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()
        self.calls: list[tuple[str, str]] = []

    def _note(self, what: str, key: TriggerKey) -> None:
        self.calls.append((what, str(key)))
        self.changed.set()

    def scheduled(self, key: TriggerKey, at: float | None) -> None:
        super().scheduled(key, at)
        self._note("scheduled", key)

    def fired(self, key: TriggerKey, at: float, run_id: str) -> None:
        super().fired(key, at, run_id)
        self._note("fired", key)

    def failed(self, key: TriggerKey, message: str, at: float) -> None:
        super().failed(key, message, at)
        self._note("failed", key)

    async def until(self, check: Callable[[], bool], timeout: float = 20.0) -> None:
        async with asyncio.timeout(timeout):
            while True:
                self.changed.clear()
                if check():
                    return
                await self.changed.wait()

    def count(self, what: str, key: str) -> int:
        return self.calls.count((what, key))


class Harness:
    """A hub on a MemoryStore, its triggers and reloader (as floe/host.py builds them), and the
    pends it creates."""

    def __init__(self, tmp_path: Path, config: str) -> None:
        self.tmp_path = tmp_path
        self.conf = tmp_path / "host.yml"
        self.write(config)
        self.store = MemoryStore()
        self.status = WatchedStatus()
        reader = SourceFlowFiles(tmp_path / "flow_cache")
        hub = self.hub = Hub(
            HostInfo("h1", frozenset()),
            parse_config(self.conf.read_text(), str(self.conf)),
            self.store,
            flow_files=reader,
        )
        parts = TriggerParts(self.store, lambda: hub.config, hub.trigger, hub.clock)
        self.service = Triggers(parts, self.status)  # the webhook handler reports to its status too
        self.reloader = Reloader(lambda: hub.config, hub.use_config, reader, (self.service.config_changed,))
        self.pends: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.ends: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.hub.broadcast.subscribe(self._on_event)
        self._tasks: list[asyncio.Task[None]] = []
        self.triggers: asyncio.Task[None] | None = None

    def write(self, config: str) -> None:
        self.conf.write_text(config.replace("{root}", str(self.tmp_path)))

    def _on_event(self, e: dict[str, Any]) -> bool:
        if e["tag"] == "sys.state" and e["opts"].get("action") == "add-pend":
            self.pends.put_nowait(e)
        if e["tag"] == "sys.end.all":
            self.ends.put_nowait(e)
        return False

    async def start(self) -> None:
        self._tasks.append(asyncio.create_task(self.hub.run()))
        await self.hub.ready.wait()

    def start_triggers(self) -> None:
        self.triggers = asyncio.create_task(self.service.run())

    async def stop_triggers(self) -> None:
        assert self.triggers is not None
        self.triggers.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.triggers
        self.triggers = None

    async def next_pend(self, timeout: float = 20.0) -> tuple[str, dict[str, Any]]:
        async with asyncio.timeout(timeout):
            e = await self.pends.get()
        run = await self.hub.find(e["run_id"])
        assert run is not None
        return run.run_id, dict(run.values)

    async def stop(self) -> None:
        if self.triggers is not None:
            await self.stop_triggers()
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def kv(h: Harness, key: str) -> dict[str, Any]:
    value = await h.store.get_kv(key)
    assert isinstance(value, dict), value
    return value


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Callable[[str], Any]]:
    made: list[Harness] = []

    async def make(config: str) -> Harness:
        h = Harness(tmp_path, config)
        made.append(h)
        await h.start()
        return h

    yield make
    for h in made:
        await h.stop()


POLL = """
common: {{workspace-root: "{{root}}/ws", store-type: memory}}
flows:
  - id: poll
    triggers:
      - {{id: commits, type: poll-git, opts: {{url: "{url}", period: 1, exclude-refs: "^refs/heads/skip"}}}}
    tasks:
      - {{id: done, listen: trigger.good, type: end}}
  - id: manual
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: say, listen: trigger.good, type: exec, opts: {{cmd: "echo still here"}}}}
      - {{id: done, listen: task.say.good, type: end}}
"""


async def test_poll_git_starts_runs_for_new_and_moved_refs(tmp_path: Path, harness: Any) -> None:
    repo = Repo(tmp_path / "repos")
    repo.commit({"a.txt": "1"})
    h: Harness = await harness(POLL.format(url=repo.url))
    h.start_triggers()
    await h.status.until(lambda: h.status.count("scheduled", "poll/commits") >= 1)  # first poll: records
    assert h.pends.empty()
    state = await kv(h, "poll-git/poll/commits")
    assert state["url"] == repo.url and set(state["refs"]) == {"refs/heads/main"}

    sha = repo.commit({"a.txt": "2"})
    _, values = await h.next_pend()
    assert (values["branch"], values["ref"], values["hash"], values["url"]) == (
        "main",
        "refs/heads/main",
        sha,
        repo.url,
    )

    feature = repo.commit({"b.txt": "f"}, branch="feature/x")
    repo.commit({"c.txt": "s"}, branch="skip-me")  # excluded
    run_id, values = await h.next_pend()
    assert (values["branch"], values["hash"]) == ("feature/x", feature)
    await h.status.until(lambda: h.status.count("fired", "poll/commits") >= 2)  # after the pend event
    status = h.status.status_of("poll")["commits"]
    assert status["last_run"] == run_id and status["fires"] == 2 and status["last_error"] is None

    # a restart keeps the refs seen: a push while the triggers are down starts a run when they are back
    await h.stop_triggers()
    later = repo.commit({"a.txt": "3"}, branch="main")
    h.start_triggers()
    _, values = await h.next_pend()
    assert (values["branch"], values["hash"]) == ("main", later)
    repo.delete_branch("feature/x")  # a deleted ref starts nothing
    await h.status.until(lambda: h.status.count("scheduled", "poll/commits") >= 3)
    assert h.pends.empty()


async def test_unreachable_repository_is_a_trigger_error_and_the_host_goes_on(
    tmp_path: Path, harness: Any
) -> None:
    h: Harness = await harness(POLL.format(url=(tmp_path / "no-such-repo.git").as_uri()))
    h.start_triggers()
    await h.status.until(lambda: h.status.count("failed", "poll/commits") >= 2)  # and it polls again
    status = h.status.status_of("poll")["commits"]
    assert "ls-remote" in status["last_error"] and status["last_error_at"] is not None
    assert status["next_fire"] is not None
    flow = h.hub.config.flow("manual")
    assert flow is not None
    run_id = await h.hub.trigger(flow, "go", {})
    async with asyncio.timeout(20):
        end = await h.ends.get()
    assert end["run_id"] == run_id and end["good"] is True


TIMER = """
common: {workspace-root: "{root}/ws", store-type: memory}
flows:
  - id: tick
    triggers: [{id: every, type: timer, opts: {period: 60, branch: main}}]
    tasks:
      - {id: done, listen: trigger.good, type: end}
"""


async def test_timer_missed_while_down_fires_once_and_a_restart_does_not_fire_again(
    tmp_path: Path, harness: Any
) -> None:
    h: Harness = await harness(TIMER)
    now = h.hub.clock()
    anchor = now - 150.0  # fired last 150 s ago: the slots at -90 and -30 were missed
    h.store.put_kv("timer/tick/every", {"spec": "period=60", "anchor": anchor, "last_fire": anchor})
    h.start_triggers()
    _, values = await h.next_pend()
    assert values == {"period": 60, "branch": "main"}
    await h.status.until(lambda: h.status.count("scheduled", "tick/every") >= 2)
    state = await kv(h, "timer/tick/every")
    assert state["anchor"] == anchor + 120.0  # the latest missed slot, once
    assert h.status.status_of("tick")["every"]["next_fire"] == anchor + 180.0
    assert h.pends.empty()

    await h.stop_triggers()  # restart before the next slot: nothing fires
    h.start_triggers()
    await h.status.until(lambda: h.status.count("scheduled", "tick/every") >= 3)
    assert h.status.status_of("tick")["every"]["next_fire"] == anchor + 180.0
    assert h.pends.empty()
    assert len(await h.store.list_runs(phase="archive")) + len(h.hub.runs) == 1


async def test_a_new_timer_is_armed_and_fires_a_period_later(tmp_path: Path, harness: Any) -> None:
    h: Harness = await harness(TIMER.replace("period: 60", "period: 1"))
    h.start_triggers()
    _, values = await h.next_pend()
    assert values["branch"] == "main"
    await h.status.until(lambda: h.status.count("fired", "tick/every") >= 1)
    first = h.status.status_of("tick")["every"]
    _, _ = await h.next_pend()
    await h.status.until(lambda: h.status.count("fired", "tick/every") >= 2)
    second = h.status.status_of("tick")["every"]
    assert second["fires"] == 2 and second["last_fire"] > first["last_fire"]
    state = await kv(h, "timer/tick/every")
    assert state["anchor"] == pytest.approx(first["last_fire"] + 1, abs=0.5)


RELOAD_A = """
common: {workspace-root: "{root}/ws", store-type: memory}
flows:
  - id: tick
    triggers: [{id: every, type: timer, opts: {period: 3600}}]
    tasks: [{id: done, listen: trigger.good, type: end}]
  - id: hook
    triggers: [{id: push, type: git-push, opts: {secret: s}}]
    tasks: [{id: done, listen: trigger.good, type: end}]
"""
RELOAD_B = """
common: {workspace-root: "{root}/ws", store-type: memory}
flows:
  - id: tick
    triggers: [{id: every, type: timer, opts: {period: 3600}}, {id: fast, type: timer, opts: {period: 1}}]
    tasks: [{id: done, listen: trigger.good, type: end}]
  - id: other
    triggers: [{id: go, type: data}]
    tasks: [{id: done, listen: trigger.good, type: end}]
"""


async def test_reload_restarts_triggers_and_rejects_a_bad_config(tmp_path: Path, harness: Any) -> None:
    h: Harness = await harness(RELOAD_A)
    h.start_triggers()
    await h.status.until(lambda: h.status.count("scheduled", "tick/every") >= 1)
    assert set(h.status.status_of("hook")) == {"push"}

    h.write("common: {bogus: 1}\nflows: [{id: x, triggers: [{id: t, type: nope}]}]\n")
    with pytest.raises(ReloadError) as info:
        await h.reloader.reload()
    assert any("bogus" in p for p in info.value.problems) and any("nope" in p for p in info.value.problems)
    assert {f.id for f in h.hub.config.flows} == {"tick", "hook"}

    h.write(RELOAD_B)
    config = await h.reloader.reload()
    assert {f.id for f in config.flows} == {"tick", "other"} and h.hub.config is config
    _, values = await h.next_pend()  # the new 1 s timer runs
    assert values["period"] == 1
    assert h.status.status_of("hook") == {}
    assert h.status.count("scheduled", "tick/every") == 1  # unchanged: kept running, not restarted
    assert set(h.status.status_of("tick")) == {"every", "fast"}


WEBHOOK = """
common: {workspace-root: "{root}/ws", store-type: memory}
flows:
  - id: hooked
    triggers:
      - {id: gh, type: webhook, opts: {secret: "s3cret", branches: ["main", "release/*"]}}
      - {id: open, type: git-push, opts: {url: blah.blah}}
    tasks: [{id: done, listen: trigger.good, type: end}]
"""


def _sign(body: bytes, secret: str = "s3cret") -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _push(branch: str = "main", after: str = "a" * 40) -> bytes:
    return json.dumps(
        {
            "ref": f"refs/heads/{branch}",
            "after": after,
            "repository": {"clone_url": "https://git.example/o/r.git", "git_http_url": "https://gl/o/r.git"},
        }
    ).encode()


@pytest.fixture
async def served(harness: Any) -> AsyncIterator[tuple[Harness, httpx.AsyncClient]]:
    """The webhook and reload routes behind the API's auth middleware, on a real loopback server."""
    h: Harness = await harness(WEBHOOK)
    sessions = Sessions(h.store, lambda: h.hub.config.common.users)
    app = Starlette(
        routes=[
            Route(f"{BASE}/push/webhook/{{flow}}/{{trigger}}", webhook.endpoint, methods=["POST"]),
            Route(f"{BASE}/config/reload", reload.endpoint, methods=["POST"]),
        ],
        middleware=[
            Middleware(
                AuthMiddleware,
                admin_token=TOKEN,
                sessions=sessions,
                public=lambda path: webhook.is_webhook_path(path, BASE),
                roles=Roles(role_rules()),
            )
        ],
        exception_handlers=dict(HANDLERS),
    )
    app.state.floe = Context(
        h.hub, h.store, h.hub.cluster, lambda: h.hub.config, sessions, TOKEN, "", h.service, h.reloader
    )
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening before uvicorn serves: nothing to wait for
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}{BASE}", timeout=10) as client:
        yield h, client
    server.should_exit = True
    await task
    sock.close()


async def test_webhook_github_gitea_gitlab(served: tuple[Harness, httpx.AsyncClient]) -> None:
    h, client = served
    body = _push("main", "1" * 40)
    r = await client.post(
        "/push/webhook/hooked/gh",
        content=body,
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + _sign(body)},
    )
    assert r.status_code == 202 and r.json()["started"] is True, r.text
    run_id, values = await h.next_pend()
    assert r.json()["run_id"] == run_id
    assert values["branch"] == "main" and values["hash"] == "1" * 40
    assert values["repo"] == values["url"] == "https://git.example/o/r.git"

    body = _push("release/2.0", "2" * 40)
    r = await client.post(
        "/push/webhook/hooked/gh",
        content=body,
        headers={"X-Gitea-Event": "push", "X-Gitea-Signature": _sign(body)},
    )
    assert r.status_code == 202 and r.json()["started"] is True, r.text
    assert (await h.next_pend())[1]["branch"] == "release/2.0"

    gitlab = json.loads(_push("main", "3" * 40))
    gitlab["repository"] = {"git_http_url": "https://gl/o/r.git"}
    r = await client.post(
        "/push/webhook/hooked/gh",
        json=gitlab,
        headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "s3cret"},
    )
    assert r.status_code == 202 and r.json()["started"] is True, r.text
    assert (await h.next_pend())[1]["url"] == "https://gl/o/r.git"
    assert h.status.status_of("hooked")["gh"]["fires"] == 3


async def test_webhook_rejections_and_events_that_start_nothing(
    served: tuple[Harness, httpx.AsyncClient],
) -> None:
    h, client = served
    body = _push()
    for headers in (
        {"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + _sign(body, "wrong")},
        {"X-Gitea-Event": "push", "X-Gitea-Signature": _sign(body + b"x")},
        {"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "wrong"},
        {"X-GitHub-Event": "push"},
    ):
        r = await client.post("/push/webhook/hooked/gh", content=body, headers=headers)
        assert r.status_code == 401, (headers, r.text)
        assert "error" in r.json()
    assert "rejected" in h.status.status_of("hooked")["gh"]["last_error"]

    def signed(payload: bytes, event: str) -> dict[str, str]:
        return {"X-GitHub-Event": event, "X-Hub-Signature-256": "sha256=" + _sign(payload)}

    ping = json.dumps({"zen": "Design for failure.", "hook_id": 1}).encode()
    cases = [
        (ping, signed(ping, "ping"), "ping"),
        (body, signed(body, "issues"), "not a push"),
        (_push("feature/x"), signed(_push("feature/x"), "push"), "does not match"),
        (_push("main", "0" * 40), signed(_push("main", "0" * 40), "push"), "deleted"),
    ]
    tag = json.dumps({"ref": "refs/tags/v1", "after": "a" * 40}).encode()
    cases.append((tag, signed(tag, "push"), "not a branch"))
    for payload, headers, reason in cases:
        r = await client.post("/push/webhook/hooked/gh", content=payload, headers=headers)
        assert r.status_code == 202, r.text
        assert r.json()["started"] is False and reason in r.json()["reason"]
    junk = b"not json"
    r = await client.post("/push/webhook/hooked/gh", content=junk, headers=signed(junk, "push"))
    assert r.status_code == 400
    assert h.pends.empty()


async def test_webhook_without_secret_needs_the_admin_token(
    served: tuple[Harness, httpx.AsyncClient],
) -> None:
    h, client = served
    body = _push("dev")
    r = await client.post(
        "/push/webhook/hooked/open", content=body, headers={"X-Hub-Signature-256": "sha256=x"}
    )
    assert r.status_code == 401
    r = await client.post("/push/webhook/hooked/open", content=body, headers={"X-Floe-Auth": "wrong"})
    assert r.status_code == 401
    r = await client.post("/push/webhook/hooked/open", content=body, headers={"X-Floe-Auth": TOKEN})
    assert r.status_code == 202 and r.json()["started"] is True
    assert (await h.next_pend())[1]["branch"] == "dev"
    # an unknown flow or trigger is 401 without credentials and 404 with them
    assert (await client.post("/push/webhook/nope/gh", content=body)).status_code == 401
    r = await client.post("/push/webhook/nope/gh", content=body, headers={"X-Floe-Auth": TOKEN})
    assert r.status_code == 404
    r = await client.post("/push/webhook/hooked/gh", content=b"{}", headers={"X-Floe-Auth": TOKEN})
    assert r.status_code == 400  # the admin may call a signed trigger; {} is no push


async def test_reload_route(served: tuple[Harness, httpx.AsyncClient]) -> None:
    h, client = served
    assert (await client.post("/config/reload")).status_code == 401
    h.write(WEBHOOK.replace("id: open", "id: opened"))
    r = await client.post("/config/reload", headers={"X-Floe-Auth": TOKEN})
    assert r.status_code == 200 and r.json()["flows"] == ["hooked"], r.text
    assert h.hub.config.flow("hooked").trigger("opened") is not None  # type: ignore[union-attr]
    h.write("flows: [{id: broken, tasks: 3}]\n")
    r = await client.post("/config/reload", headers={"X-Floe-Auth": TOKEN})
    assert r.status_code == 400 and r.json()["problems"], r.text
    assert h.hub.config.flow("hooked") is not None
    h.write(WEBHOOK.replace("store-type: memory", "store-type: memory, base-url: /other"))
    r = await client.post("/config/reload", headers={"X-Floe-Auth": TOKEN})
    assert r.status_code == 200 and any("base-url" in w for w in r.json()["warnings"]), r.text
    assert h.hub.config.common.base_url == BASE
