"""Run now (an operator fires a timer or poll-git trigger at once) and `GET {base}/me`, on a real host."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from floe.server.passwords import hash_password
from tests.conftest import HostFactory
from tests.e2e.test_api_extras import check
from tests.support.gitrepo import Repo
from tests.support.host import BASE, FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  users:
    - {name: vera, role: viewer, password: "VERA"}
    - {name: otto, role: operator, password: "OTTO"}
flows:
  - id: hourly
    ver: 1
    triggers: [{id: tick, type: timer, opts: {period: 3600, note: from-the-timer}}]
    tasks:
      - {id: say, listen: trigger.good, type: exec, opts: {shell: 'echo "tick $FLOE_VALUE_NOTE"'}}
  - id: watched
    ver: 1
    triggers: [{id: commits, type: poll-git, opts: {url: "REPO", period: 3600}}]
    tasks:
      - id: show
        listen: trigger.good
        type: exec
        opts: {shell: 'echo "$FLOE_VALUE_BRANCH at $FLOE_VALUE_HASH"'}
  - id: gone
    ver: 1
    triggers: [{id: commits, type: poll-git, opts: {url: "GONE", period: 3600}}]
  - id: formed
    ver: 1
    triggers: [{id: go, type: data}]
"""


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "git")


@pytest.fixture
def host(floe_host: HostFactory, repo: Repo, tmp_path: Path) -> FloeHost:
    conf = CONF.replace("REPO", repo.url).replace("GONE", (tmp_path / "no-such.git").as_uri())
    for name in ("VERA", "OTTO"):
        conf = conf.replace(f'"{name}"', f'"{hash_password(name.lower() + "-pw")}"')
    return floe_host(conf)


def session(host: FloeHost, user: str) -> httpx.Client:
    client = httpx.Client(base_url=host.url + BASE, timeout=30)
    host.extra_clients.append(client)
    assert client.post("/login", json={"user": user, "password": f"{user}-pw"}).status_code == 200
    return client


def test_an_operator_runs_a_timer_now_and_it_is_audited(host: FloeHost) -> None:
    otto, vera = session(host, "otto"), session(host, "vera")
    denied = vera.post("/flows/hourly/triggers/tick/run", json={})
    assert denied.status_code == 403 and denied.json()["role"] == "operator"
    r = otto.post("/flows/hourly/triggers/tick/run", json={})
    assert r.status_code == 202, r.text
    run_id = r.json()["run_id"]
    assert r.json()["trigger"] == "tick"
    assert host.wait_run("hourly", run_id)["status"] == "good"
    assert host.node_log("hourly", run_id, "say").endswith("tick from-the-timer\n")  # the timer's opts
    trail = host.get("/audit").json()["entries"]
    assert {"by": "otto", "action": "trigger", "run_id": run_id} in [
        {k: e[k] for k in ("by", "action", "run_id")} for e in trail
    ]
    status = next(t for t in host.get("/flows/hourly").json()["triggers"] if t["id"] == "tick")["status"]
    assert status["last_run"] == run_id and status["fires"] == 1
    assert status["next_fire"] > status["last_fire"] + 3000  # the schedule did not move


def test_what_cannot_run_now_is_a_clear_4xx(host: FloeHost) -> None:
    otto = session(host, "otto")
    data = otto.post("/flows/formed/triggers/go/run", json={})
    assert data.status_code == 400 and data.json()["field"] == "trigger"
    assert otto.post("/flows/formed/triggers/nope/run", json={}).status_code == 404
    assert otto.post("/flows/nope/triggers/go/run", json={}).status_code == 404
    gone = otto.post("/flows/gone/triggers/commits/run", json={})
    assert gone.status_code == 422 and "ls-remote" in gone.json()["error"]
    assert otto.post("/flows/hourly/triggers/tick/run", json={"ref": 3}).json()["field"] == "ref"


def test_poll_git_runs_the_default_branch_or_the_ref_asked_for(host: FloeHost, repo: Repo) -> None:
    main = repo.commit({"a": "1"})
    feature = repo.commit({"b": "2"}, branch="feature/x")
    otto = session(host, "otto")
    first = otto.post("/flows/watched/triggers/commits/run")  # no body at all
    assert first.status_code == 202, first.text
    run_id = first.json()["run_id"]
    assert host.wait_run("watched", run_id)["status"] == "good"
    assert host.node_log("watched", run_id, "show").endswith(f"main at {main}\n")
    asked = otto.post("/flows/watched/triggers/commits/run", json={"ref": "feature/x"}).json()["run_id"]
    host.wait_run("watched", asked)
    assert host.node_log("watched", asked, "show").endswith(f"feature/x at {feature}\n")
    nope = otto.post("/flows/watched/triggers/commits/run", json={"ref": "nope"})
    assert nope.status_code == 400 and nope.json()["field"] == "ref"
    runs = host.get("/flows/watched/runs").json()
    assert sorted(r["run_id"] for r in runs["archive"]) == sorted([run_id, asked])


def test_me_names_the_user_and_role_of_the_credential(host: FloeHost) -> None:
    assert session(host, "vera").get("/me").json() == {"user": "vera", "role": "viewer"}
    assert session(host, "otto").get("/me").json() == {"user": "otto", "role": "operator"}
    assert host.get("/me").json() == {"user": "admin", "role": "admin"}  # the admin token
    anon = httpx.Client(base_url=host.url + BASE)
    host.extra_clients.append(anon)
    assert anon.get("/me").status_code == 401


def test_the_answers_are_the_ones_openapi_describes(host: FloeHost) -> None:
    doc = host.get("/openapi.json").json()
    otto = session(host, "otto")
    run_now = f"{BASE}/flows/{{flow}}/triggers/{{trigger}}/run"
    answers = [
        (host.get("/me"), f"{BASE}/me", "get"),
        (otto.post("/flows/hourly/triggers/tick/run", json={}), run_now, "post"),
        (otto.post("/flows/formed/triggers/go/run", json={}), run_now, "post"),
        (session(host, "vera").post("/flows/hourly/triggers/tick/run", json={}), run_now, "post"),
    ]
    for resp, path, method in answers:
        responses = doc["paths"][path][method]["responses"]
        assert str(resp.status_code) in responses, f"{method} {path}: {resp.status_code} undocumented"
        schema = responses[str(resp.status_code)]["content"]["application/json"]["schema"]
        assert check(resp.json(), schema, doc) == [], resp.text
