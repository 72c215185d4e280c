"""Gates that decide, on a real host: approve or reject, who may answer, the answer as data."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe.server.passwords import hash_password
from tests.conftest import HostFactory
from tests.e2e.test_roles import session
from tests.support.host import FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  users:
    - {name: otto, role: operator, password: "OTTO"}
    - {name: rita, role: operator, password: "RITA"}
flows:
  - id: release
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: approval
        listen: trigger.good
        type: data
        opts:
          resolvers: {users: [rita]}
          decide: verdict
          form:
            title: Release?
            fields:
              - {id: verdict, type: choice, options: [approve, reject]}
              - {id: why, type: string, default: ""}
      - id: deploy
        listen: task.approval.good
        type: exec
        opts: {shell: 'echo "$FLOE_VALUE_ANSWERED_BY" {{ tasks.approval.outputs.why }} > {root}/deployed'}
      - id: rejected
        listen: task.approval.bad
        type: exec
        opts: {shell: 'echo {{ tasks.approval.outputs.answered_by }} > {root}/rejected'}
"""


@pytest.fixture
def host(floe_host: HostFactory) -> FloeHost:
    conf = CONF
    for name in ("OTTO", "RITA"):
        conf = conf.replace(f'"{name}"', f'"{hash_password(name.lower() + "-pw")}"')
    return floe_host(conf)


def answer(client: object, run_id: str, values: dict[str, str]) -> object:
    body = {"Ref": {"ID": "release", "Ver": 1}, "Run": run_id, "Form": {"ID": "approval", "Values": values}}
    return client.post("/push/data", json=body)  # type: ignore[attr-defined]


def test_only_a_named_resolver_answers_and_approval_takes_the_good_branch(host: FloeHost) -> None:
    otto, rita = session(host, "otto"), session(host, "rita")
    run_id = host.trigger("release")
    host.wait_run("release", run_id, want={"waiting"})
    refused = answer(otto, run_id, {"verdict": "approve"})
    assert refused.status_code == 403 and "only user rita may answer approval" in refused.json()["error"]
    empty = answer(rita, run_id, {})
    assert empty.status_code == 400 and "gives none of its fields" in empty.json()["error"]
    assert answer(rita, run_id, {"verdict": "approve", "why": "tests green"}).status_code == 200
    run = host.wait_run("release", run_id)
    assert run["status"] == "good"
    assert Path(host.root / "deployed").read_text() == "rita tests green\n"
    gate = next(n for n in run["nodes"] if n["id"] == "approval")
    assert gate["outputs"]["answered_by"] == "rita" and gate["result"] == "good"


def test_a_reject_takes_the_bad_branch_and_says_who(host: FloeHost) -> None:
    rita = session(host, "rita")
    run_id = host.trigger("release")
    host.wait_run("release", run_id, want={"waiting"})
    assert answer(rita, run_id, {"verdict": "reject"}).status_code == 200
    run = host.wait_run("release", run_id)
    gate = next(n for n in run["nodes"] if n["id"] == "approval")
    assert gate["result"] == "bad" and gate["reason"] == "approval rejected by rita"
    assert Path(host.root / "rejected").read_text() == "rita\n"
    assert not (host.root / "deployed").exists()


def test_the_admin_may_answer_any_gate(host: FloeHost) -> None:
    run_id = host.trigger("release")
    host.wait_run("release", run_id, want={"waiting"})
    r = host.push("release", "approval", {"verdict": "approve"}, run=run_id)
    assert r.status_code == 200, r.text
    assert host.wait_run("release", run_id)["status"] == "good"
