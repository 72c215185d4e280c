"""Attacks on what reaches a task and on the ids at the edges, tried against real hosts."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from floe.cluster.signing import sign
from floe.config import parse_config
from floe.model.codec import flow_doc
from floe.server.passwords import hash_password
from tests.conftest import HostFactory
from tests.support.host import TOKEN, FloeHost

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: plain
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: say, listen: trigger.good, type: exec, opts: {cmd: "echo hi"}}
      - {id: done, listen: task.say.good, type: end}
"""


@pytest.fixture
def host_plain(floe_host: HostFactory) -> FloeHost:
    return floe_host(CONF)


def pend(flow_id: str, run_id: str = "h9-1", **snapshot: Any) -> dict[str, Any]:
    """A pend as one host hands it to another (`POST {base}/p2p/runs`)."""
    return {
        "run_id": run_id,
        "flow": flow_id,
        "ver": 1,
        "phase": "pending",
        "created": 1.0,
        "status": "pending",
        "exec_host": "",
        "trigger": "go",
        "values": {},
        "seq": 1,
        "nodes": [],
        "snapshot": {"id": flow_id, "ver": 1, "triggers": [], "tasks": [], **snapshot},
    }


# ---- ids at the edges ----------------------------------------------------------------------------
def test_a_pend_whose_flow_id_climbs_out_of_the_workspace_root_is_refused(
    floe_host: HostFactory, tmp_path: Path
) -> None:
    host = floe_host(CONF)
    victim = tmp_path / "h1" / "outside" / "ws" / "h9-1"  # what <ws-root>/spaces/../../outside/... names
    victim.mkdir(parents=True)
    (victim / "keep.txt").write_text("precious")
    r = host.post("/p2p/runs", pend("../../outside"))
    assert r.status_code == 400 and "not a valid id" in r.json()["error"], r.text
    assert (victim / "keep.txt").read_text() == "precious"
    assert host.get("/flows/plain").status_code == 200  # the host keeps serving


def test_bad_ids_in_a_pend_and_in_paths_are_refused_with_400(host_plain: FloeHost) -> None:
    cases = [
        pend("plain", run_id="../h9-1"),
        {**pend("plain"), "trigger": "a/b"},
        pend("plain", tasks=[{"id": "..", "class": "task", "type": "exec", "listen": "trigger.good"}]),
        {**pend("plain"), "nodes": [{"id": "x/y", "status": "idle"}]},
    ]
    for doc in cases:
        r = host_plain.post("/p2p/runs", doc)
        assert r.status_code == 400, (doc, r.text)
    for path in ("/flows/a.b/runs", "/flows/plain/runs/h1 1", "/flows/plain/runs/h1-1/nodes/a%5Cb/log"):
        r = host_plain.get(path)
        assert r.status_code == 400 and "not a valid id" in r.json()["error"], (path, r.text)
    r = host_plain.post("/p2p/locks", {"run_id": "h1-1", "host": "../h2", "tags": ["db"]})
    assert r.status_code == 400, r.text


# ---- values are data, never opts -------------------------------------------------------------
VALUES_CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: build
    ver: 1
    triggers:
      - id: start
        type: data
        opts: {form: {title: Start, fields: [{id: branch, type: string, default: main}]}}
    tasks:
      - id: checkout
        listen: trigger.good
        type: exec
        opts: {shell: 'echo "building $FLOE_VALUE_BRANCH"; echo "cmd is $FLOE_VALUE_CMD"'}
      - id: sign-off
        listen: task.checkout.good
        type: data
        opts: {form: {title: Release?, fields: [{id: approver, type: string, required: true}]}}
      - id: package
        listen: task.sign-off.good
        type: exec
        opts: {shell: 'echo "approved by $FLOE_VALUE_APPROVER"', sub-dir: out}
      - {id: done, listen: task.package.good, type: end}
"""


def test_form_values_named_like_opts_never_replace_a_tasks_command(
    floe_host: HostFactory, tmp_path: Path
) -> None:
    host = floe_host(VALUES_CONF)
    marker = tmp_path / "pwned"
    given = {"branch": "main", "cmd": f"touch {marker}-1", "sub-dir": "elsewhere"}
    run_id = host.trigger("build", "start", given)
    host.wait_run("build", run_id, want={"waiting"})
    answer = {"approver": "ann", "cmd": f"touch {marker}-2", "shell": f"touch {marker}-3"}
    r = host.push("build", "sign-off", answer, run=run_id)
    assert r.status_code == 200, r.text
    assert host.wait_run("build", run_id)["status"] == "good"
    checkout = host.node_log("build", run_id, "checkout").splitlines()
    assert checkout[0].endswith(f"/ws/{run_id}")  # in dir: the workspace, not the value's sub-dir
    assert "building main" in checkout and f"cmd is touch {marker}-1" in checkout  # data, shown as data
    package = host.node_log("build", run_id, "package")
    assert "approved by ann" in package and "/out" in package.splitlines()[0]  # its own sub-dir
    assert not list(tmp_path.glob("pwned*"))


# ---- the host's credentials never reach a task -----------------------------------------------
CREDS_CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  secrets:
    DEPLOY: {env: FLOE_TEST_DEPLOY}
  users:
    - {name: vera, role: viewer, password: "HASH"}
flows:
  - id: snoop
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: look
        listen: trigger.good
        type: exec
        opts:
          env: [HEAD=HEADPART, TAIL=TAILPART, "DEPLOY=${secret:DEPLOY}"]
          shell: |
            printf '%s%s\\n' "$HEAD" "$TAIL" > token.pat
            env > env.txt
            ps -eo args > ps.txt
            cat /proc/$PPID/cmdline /proc/$PPID/environ > host.txt
            for f in env.txt ps.txt host.txt; do echo "$f: $(grep -c -F -f token.pat $f)"; done
            echo "FLOE_ADMIN=[$FLOE_ADMIN] source=[$FLOE_TEST_DEPLOY] deploy=[${#DEPLOY}]"
            echo "host title: $(tr '\\0' ' ' < /proc/$PPID/cmdline)"
            printf 'printed: %s%s\\n' "$HEAD" "$TAIL"
            echo "hash: $(cat HASHFILE)"
      - {id: done, listen: task.look.good, type: end}
"""


def test_a_task_sees_no_host_credential_in_its_env_the_process_list_or_the_hosts_proc(
    floe_host: HostFactory, tmp_path: Path
) -> None:
    digest = hash_password("vera-pw")
    (tmp_path / "hash.txt").write_text(digest)
    token = "creds-" + secrets.token_hex(12)  # this host's alone: others of this machine use TOKEN
    conf = (
        CREDS_CONF.replace('"HASH"', f'"{digest}"')
        .replace("HASHFILE", str(tmp_path / "hash.txt"))
        .replace("HEADPART", token[:9])
        .replace("TAILPART", token[9:])
    )
    # the token both on the command line (-admin=, as FloeHost starts every host) and in FLOE_ADMIN
    env = {"FLOE_ADMIN": token, "FLOE_TEST_DEPLOY": "deploy-value-1234"}
    host = floe_host(conf, env=env, token=token)
    run_id = host.trigger("snoop")
    assert host.wait_run("snoop", run_id)["status"] == "good"
    lines = host.node_log("snoop", run_id, "look").splitlines()
    assert "env.txt: 0" in lines and "ps.txt: 0" in lines and "host.txt: 0" in lines, lines
    assert "FLOE_ADMIN=[] source=[] deploy=[17]" in lines, lines  # the secret still by ${secret:...}
    title = next(line for line in lines if line.startswith("host title: "))
    assert "-admin=***" in title and token not in title
    assert "printed: ***" in lines and "hash: ***" in lines  # printed anyway: masked like a secret
    assert token not in host.log()


def test_a_pend_with_a_snapshot_no_host_holds_and_no_cluster_signature_is_refused(
    host_plain: FloeHost, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    task = {"id": "own", "class": "task", "type": "exec", "listen": "trigger.good"}
    foreign = pend("plain", tasks=[{**task, "opts": {"cmd": f"touch {marker}"}}])
    r = host_plain.post("/p2p/runs", foreign)
    assert r.status_code == 403 and "signed" in r.json()["error"], r.text
    r = host_plain.post("/p2p/runs", {**foreign, "snapshot_sig": "0" * 64})
    assert r.status_code == 403, r.text
    assert host_plain.get("/flows/plain/runs").json()["active"] == []
    assert not marker.exists()
    # the snapshot this host's config holds is accepted, and so is one a cluster host signed
    (plain,) = parse_config(CONF.replace("{root}", str(tmp_path)), "c.yml").flows
    same = pend("plain", run_id="h9-1", **flow_doc(plain))
    assert host_plain.post("/p2p/runs", same).status_code == 200
    assert host_plain.wait_run("plain", "h9-1")["status"] == "good"
    signed = {**foreign, "run_id": "h9-2", "snapshot_sig": sign(TOKEN, foreign["snapshot"])}
    assert host_plain.post("/p2p/runs", signed).status_code == 200
    assert host_plain.wait_run("plain", "h9-2")["status"] == "good" and marker.exists()


def test_the_admin_token_can_come_from_a_file_alone(floe_host: HostFactory, tmp_path: Path) -> None:
    token = "file-" + secrets.token_hex(12)
    path = tmp_path / "admin-token"
    path.write_text(token + "\n")
    path.chmod(0o600)
    host = floe_host(CONF, token=token, token_arg=False, extra=[f"--admin-file={path}"])
    assert host.get("/flows").status_code == 200
    assert host.http.get("/build/api/flows", headers={"X-Floe-Auth": TOKEN}).status_code == 401
