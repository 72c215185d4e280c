"""Triggers and flow sources on real hosts: timers, poll-git and git flow-files on real repositories,
webhooks with real signatures, http flow-files with ETags, configs from git, reload and SIGHUP."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import HostFactory
from tests.support.files import FileServer, serving
from tests.support.gitrepo import Repo
from tests.support.host import FloeHost
from tests.support.stream import events, recv

COMMON = """
common:
  workspace-root: {root}/ws
  store-type: local
  store-root: {root}/store
"""


def all_runs(host: FloeHost, flow: str) -> list[dict[str, Any]]:
    r = host.get(f"/flows/{flow}/runs")
    assert r.status_code == 200, r.text
    doc = r.json()
    runs: list[dict[str, Any]] = [*doc["pending"], *doc["active"], *doc["archive"]]
    return sorted(runs, key=lambda s: s["created"])


def wait_runs(host: FloeHost, flow: str, count: int, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The runs of `flow`, oldest first, once there are at least `count` (followed on its event stream)."""
    deadline = time.monotonic() + timeout
    with events(host, flow=flow) as ws:
        while True:
            runs = all_runs(host, flow)
            if len(runs) >= count:
                return runs
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(
                    f"{flow}: {len(runs)} runs, not {count}, after {timeout}s\n{host.log()[-3000:]}"
                )
            with contextlib.suppress(TimeoutError):
                recv(ws, deadline)


def wait_for(check: Callable[[], Any], what: str, host: FloeHost, timeout: float = 30.0) -> Any:
    """Poll the host's API until `check()` is truthy (for state no event announces, like trigger status)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)  # polling a process we cannot get an event from
    raise TimeoutError(f"{what} after {timeout}s\n{host.log()[-3000:]}")


def trigger_status(host: FloeHost, flow: str, trigger: str) -> dict[str, Any]:
    r = host.get(f"/flows/{flow}")
    assert r.status_code == 200, r.text
    found = next(t for t in r.json()["triggers"] if t["id"] == trigger)
    status: dict[str, Any] = found.get("status") or {}
    return status


def test_timer_period_one_fires_again_and_again(floe_host: HostFactory) -> None:
    conf = (
        COMMON
        + """
flows:
  - id: tick
    ver: 1
    triggers: [{id: every, type: timer, opts: {period: 1, branch: main}}]
    tasks:
      - {id: say, listen: trigger.good, type: exec, opts: {cmd: "echo tick"}}
      - {id: done, listen: task.say.good, type: end}
"""
    )
    host = floe_host(conf)
    runs = wait_runs(host, "tick", 2)
    first = host.wait_run("tick", runs[0]["run_id"])
    assert first["status"] == "good" and first["values"]["branch"] == "main"
    assert runs[1]["created"] - runs[0]["created"] == pytest.approx(1.0, abs=0.5)


def test_poll_git_starts_runs_for_pushed_branches(floe_host: HostFactory, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repos")
    repo.commit({"README": "one"})
    conf = (
        COMMON
        + f"""
flows:
  - id: polled
    ver: 1
    triggers:
      - id: commits
        type: poll-git
        opts: {{url: "{repo.url}", period: 1, exclude-refs: "^refs/heads/wip"}}
    tasks:
      - {{id: checkout, listen: trigger.good, type: git-checkout}}
      - {{id: show, listen: task.checkout.good, type: exec, opts: {{shell: "cat remote/README"}}}}
      - {{id: done, listen: task.show.good, type: end}}
"""
    )
    host = floe_host(conf)
    wait_for(lambda: trigger_status(host, "polled", "commits").get("next_fire"), "first poll", host)
    assert all_runs(host, "polled") == []  # the first poll only records

    sha = repo.commit({"README": "two"})
    run = host.wait_run("polled", wait_runs(host, "polled", 1)[0]["run_id"])
    assert run["status"] == "good", run
    assert (run["values"]["branch"], run["values"]["hash"], run["values"]["url"]) == ("main", sha, repo.url)
    assert "two" in host.node_log("polled", run["run_id"], "show")

    feature = repo.commit({"README": "feature"}, branch="feature/deep/x")
    repo.commit({"README": "wip"}, branch="wip-1")  # excluded
    runs = wait_runs(host, "polled", 2)
    run = host.wait_run("polled", runs[1]["run_id"])
    assert (run["values"]["branch"], run["values"]["hash"]) == ("feature/deep/x", feature)
    assert "feature" in host.node_log("polled", run["run_id"], "show")
    status = trigger_status(host, "polled", "commits")
    assert status["fires"] == 2 and status["last_error"] is None


def test_unreachable_repository_is_a_visible_trigger_error(floe_host: HostFactory, tmp_path: Path) -> None:
    gone = (tmp_path / "gone.git").as_uri()
    conf = (
        COMMON
        + f"""
flows:
  - id: lost
    ver: 1
    triggers: [{{id: commits, type: poll-git, opts: {{url: "{gone}", period: 1}}}}]
    tasks: [{{id: done, listen: trigger.good, type: end}}]
  - id: manual
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: say, listen: trigger.good, type: exec, opts: {{cmd: "echo fine"}}}}
      - {{id: done, listen: task.say.good, type: end}}
"""
    )
    host = floe_host(conf, process=True)  # the process still runs at the end
    status = wait_for(
        lambda: trigger_status(host, "lost", "commits").get("last_error"), "a trigger error", host
    )
    assert "ls-remote" in status
    assert httpx.get(host.url + "/healthz", timeout=5).json()["ok"] is True
    assert host.wait_run("manual", host.trigger("manual"))["status"] == "good"
    first = trigger_status(host, "lost", "commits")["last_error_at"]
    wait_for(lambda: trigger_status(host, "lost", "commits")["last_error_at"] > first, "a second poll", host)
    assert host.proc is not None and host.proc.poll() is None


def flow_doc(task: str, text: str) -> str:
    return f"""
id: built
tasks:
  - {{id: {task}, listen: trigger.good, type: exec, opts: {{cmd: "echo {text}"}}}}
  - {{id: done, listen: task.{task}.good, type: end}}
"""


def test_git_flow_file_changed_between_two_triggers(floe_host: HostFactory, tmp_path: Path) -> None:
    repo = Repo(tmp_path / "repos")
    repo.commit({"flows/build.yml": flow_doc("first", "version-one")})
    conf = (
        COMMON
        + f"""
flows:
  - id: built
    ver: 1
    flow-file: "git+{repo.url}#flows/build.yml@main"
    triggers: [{{id: go, type: data}}]
"""
    )
    host = floe_host(conf)
    one = host.wait_run("built", host.trigger("built"))
    repo.commit({"flows/build.yml": flow_doc("second", "version-two")})
    two = host.wait_run("built", host.trigger("built"))
    assert one["status"] == two["status"] == "good"
    assert [n["id"] for n in one["nodes"]] == ["first", "done"]
    assert [n["id"] for n in two["nodes"]] == ["second", "done"]
    assert "version-one" in host.node_log("built", one["run_id"], "first")
    assert "version-two" in host.node_log("built", two["run_id"], "second")
    assert [n["id"] for n in host.run("built", one["run_id"])["nodes"]] == ["first", "done"]  # kept
    assert host.get("/flows/built").json()["tasks"] == []  # the loaded flow is not changed
    repo.commit({"flows/build.yml": "id: built\ntasks: [{id: x, type: nope, listen: trigger.good}]\n"})
    r = host.push("built", "go")
    assert r.status_code == 422 and "nope" in r.json()["error"]


@pytest.fixture
def files() -> Iterator[FileServer]:
    with serving() as server:
        yield server


def test_http_flow_file_with_etag(floe_host: HostFactory, files: FileServer) -> None:
    files.files["/build.yml"] = flow_doc("fetched", "over-http").encode()
    conf = (
        COMMON
        + f"""
flows:
  - id: built
    ver: 1
    flow-file: "{files.url}/build.yml"
    triggers: [{{id: go, type: data}}]
"""
    )
    host = floe_host(conf)
    for _ in range(2):
        run = host.wait_run("built", host.trigger("built"))
        assert run["status"] == "good" and "over-http" in host.node_log("built", run["run_id"], "fetched")
    assert files.counts == {200: 1, 304: 1}


WEBHOOKS = (
    COMMON
    + """
flows:
  - id: hooked
    ver: 1
    triggers:
      - {id: signed, type: webhook, opts: {secret: "hook-secret", branches: [main, "release/*"]}}
      - {id: push, type: git-push, opts: {url: blah.blah}}
    tasks:
      - {id: done, listen: trigger.good, type: end}
"""
)


def _payload(branch: str, after: str) -> bytes:
    return json.dumps(
        {
            "ref": f"refs/heads/{branch}",
            "before": "0" * 40,
            "after": after,
            "repository": {
                "clone_url": "https://git.example/o/r.git",
                "git_http_url": "https://git.example/o/r.git",
            },
        }
    ).encode()


def _hmac(body: bytes, secret: str = "hook-secret") -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_webhooks_with_real_signatures(floe_host: HostFactory) -> None:
    host = floe_host(WEBHOOKS)
    anon = httpx.Client(base_url=host.url + "/build/api", timeout=10)
    host.extra_clients.append(anon)
    path = "/push/webhook/hooked/signed"

    body = _payload("main", "1" * 40)
    r = anon.post(
        path, content=body, headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={_hmac(body)}"}
    )
    assert r.status_code == 202 and r.json()["started"] is True, r.text
    run = host.wait_run("hooked", r.json()["run_id"])
    assert run["status"] == "good"
    assert (run["values"]["branch"], run["values"]["hash"]) == ("main", "1" * 40)
    assert run["values"]["repo"] == run["values"]["url"] == "https://git.example/o/r.git"
    assert "secret" not in run["values"]  # the trigger's secret never travels with the run

    body = _payload("release/1.0", "2" * 40)
    r = anon.post(path, content=body, headers={"X-Gitea-Event": "push", "X-Gitea-Signature": _hmac(body)})
    assert r.status_code == 202 and r.json()["started"] is True, r.text
    assert host.wait_run("hooked", r.json()["run_id"])["values"]["branch"] == "release/1.0"

    body = _payload("main", "3" * 40)
    r = anon.post(
        path, content=body, headers={"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "hook-secret"}
    )
    assert r.status_code == 202 and r.json()["started"] is True, r.text

    body = _payload("main", "4" * 40)
    bad = anon.post(
        path,
        content=body,
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={_hmac(body, 'x')}"},
    )
    assert bad.status_code == 401
    assert anon.post(path, content=body).status_code == 401
    ping = json.dumps({"zen": "Approachable is better than simple.", "hook_id": 7}).encode()
    r = anon.post(
        path, content=ping, headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": f"sha256={_hmac(ping)}"}
    )
    assert r.status_code == 202 and r.json() == {"started": False, "reason": "ping"}
    other = _payload("feature/x", "5" * 40)
    r = anon.post(
        path,
        content=other,
        headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": f"sha256={_hmac(other)}"},
    )
    assert r.status_code == 202 and r.json()["started"] is False and "feature/x" in r.json()["reason"]
    assert len(all_runs(host, "hooked")) == 3

    status = trigger_status(host, "hooked", "signed")
    assert status["fires"] == 3 and "rejected" in status["last_error"]

    # floe's git-push trigger has no secret: it is behind the API's own authentication
    body = _payload("dev", "6" * 40)
    assert anon.post("/push/webhook/hooked/push", content=body).status_code == 401
    r = host.http.post("/build/api/push/webhook/hooked/push", content=body)
    assert r.status_code == 202 and r.json()["started"] is True, r.text
    assert host.wait_run("hooked", r.json()["run_id"])["values"]["branch"] == "dev"


def test_config_from_git_reloaded_by_route_and_sighup(floe_host: HostFactory, tmp_path: Path) -> None:
    root = tmp_path / "h1"  # the host's root, as floe_host makes it
    common = COMMON.replace("{root}", str(root))

    def host_config(*extra: str) -> str:
        flows = "".join(
            f"""
  - id: {name}
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: say, listen: trigger.good, type: exec, opts: {{cmd: "echo {name}"}}}}
      - {{id: done, listen: task.say.good, type: end}}
"""
            for name in extra
        )
        return (
            common
            + """
flows:
  - id: built
    ver: 1
    flow-file: flows/build.yml
    triggers: [{id: go, type: data}]
"""
            + flows
        )

    repo = Repo(tmp_path / "repos")
    repo.commit(
        {"conf/host.yml": host_config(), "conf/flows/build.yml": flow_doc("relative", "from-the-repo")}
    )
    spec = f"git+{repo.url}#conf/host.yml@main"
    host = floe_host(COMMON, extra=[f"-conf={spec}"])
    run = host.wait_run("built", host.trigger("built"))
    assert run["status"] == "good" and "from-the-repo" in host.node_log("built", run["run_id"], "relative")

    repo.commit({"conf/host.yml": host_config("added")})
    r = host.post("/config/reload")
    assert r.status_code == 200 and sorted(r.json()["flows"]) == ["added", "built"], r.text
    assert host.wait_run("added", host.trigger("added"))["status"] == "good"

    repo.commit({"conf/host.yml": "common: {bogus: true}\nflows: [{id: x, tasks: 3}]\n"})
    r = host.post("/config/reload")
    assert r.status_code == 400, r.text
    assert any("bogus" in p for p in r.json()["problems"])
    assert host.get("/flows/added").status_code == 200  # the running config is kept

    repo.commit({"conf/host.yml": host_config("hupped")})
    assert host.proc is not None
    os.kill(host.proc.pid, signal.SIGHUP)
    wait_for(lambda: host.get("/flows/hupped").status_code == 200, "the SIGHUP reload", host)
    assert host.get("/flows/added").status_code == 404
    assert host.wait_run("hupped", host.trigger("hupped"))["status"] == "good"
    assert httpx.get(host.url + "/healthz", timeout=5).json()["ok"] is True
