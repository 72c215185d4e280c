"""`POST {base}/runs` with a flow document, on a real host: off by default, validated, kept."""

from __future__ import annotations

import pytest

from floe.server.passwords import hash_password
from tests.conftest import HostFactory
from tests.e2e.test_roles import session
from tests.support.host import FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  POSTED
  users:
    - {name: otto, role: operator, password: "OTTO"}
flows:
  - id: configured
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
"""

DOC = """id: adhoc
tasks:
  - id: hello
    listen: trigger.good
    type: exec
    opts:
      shell: echo hello {{ values.who }} > {root}/hello
"""


def conf(posted: str) -> str:
    return CONF.replace("POSTED", posted).replace('"OTTO"', f'"{hash_password("otto-pw")}"')


@pytest.fixture
def allowed(floe_host: HostFactory) -> FloeHost:
    return floe_host(conf("posted-flows: admin"))


def test_a_posted_flow_runs_and_its_run_keeps_the_document(allowed: FloeHost) -> None:
    doc = DOC.replace("{root}", str(allowed.root))
    r = allowed.post("/runs", {"flow": doc, "values": {"who": "ada"}})
    assert r.status_code == 202, r.text
    assert r.json()["flow"] == "adhoc"
    run = allowed.wait_run("adhoc", r.json()["run_id"])
    assert run["status"] == "good", run
    assert (allowed.root / "hello").read_text() == "hello ada\n"
    assert run["posted_document"] == doc


def test_a_bad_posted_flow_is_refused_with_its_line_and_key(allowed: FloeHost) -> None:
    bad = "id: adhoc\ntasks:\n  - id: hello\n    listen: trigger.good\n    type: exec\n    colour: red\n"
    r = allowed.post("/runs", {"flow": bad})
    assert r.status_code == 400
    assert "<posted flow>:6: tasks[0].colour" in r.json()["error"]
    clash = allowed.post("/runs", {"flow": DOC.replace("adhoc", "configured")})
    assert clash.status_code == 409


def test_only_the_allowed_role_may_post(allowed: FloeHost) -> None:
    otto = session(allowed, "otto")
    r = otto.post("/runs", json={"flow": DOC})
    assert r.status_code == 403 and "needs the admin role" in r.json()["error"]


def test_posting_is_off_unless_the_config_allows_it(floe_host: HostFactory) -> None:
    host = floe_host(conf(""))
    r = host.post("/runs", {"flow": DOC})
    assert r.status_code == 403 and "common.posted-flows" in r.json()["error"]
