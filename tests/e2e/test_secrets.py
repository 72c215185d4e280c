"""Secrets on a real host: a task prints them every which way; no trace in logs, events, API or files."""

from __future__ import annotations

import base64
import json
import os
import secrets
import sqlite3
import time
from pathlib import Path

from tests.conftest import HostFactory
from tests.support.host import FloeHost
from tests.support.stream import events, recv_frame

EMAIL = "jane.doe.4711@example.org"

CONFIG = """\
common:
  workspace-root: {root}/ws
  store-root: {root}
  secrets:
    DEPLOY_TOKEN: {env: FLOE_E2E_DEPLOY_TOKEN}
    SSH_KEY: {file: KEY_PATH}
flows:
  - id: leak
    ver: 1
    env:
      - TOKEN=${secret:DEPLOY_TOKEN}
    triggers:
      - id: go
        type: data
        opts:
          form:
            fields:
              - {id: customer_email, type: string, required: true}
    tasks:
      - id: show
        type: exec
        listen: trigger.good
        opts:
          env:
            - KEY=${secret:SSH_KEY}
          shell: |
            echo "plain: $TOKEN"
            echo "${TOKEN:0:13}"
            echo "${TOKEN:13}"
            echo -n "$TOKEN" | base64
            echo "$TOKEN" | base64 -w0; echo
            echo -n "$TOKEN" | base64 | tr '+/' '-_'
            echo "a longer line with prefix-${TOKEN}-suffix inside, and more text after it"
            echo "part of it: ${TOKEN:5:20} in a line"
            echo "$KEY"
            printf '%s' "$KEY" | base64
            set -x
            deploy() { return 0; }
            deploy --header "Authorization: Bearer $TOKEN" --key-line "${KEY:40:60}"
            set +x
            ls "/no/such/dir/$TOKEN"
            exit 3
      - id: boom
        type: exec
        listen: task.show.bad
        opts:
          cmd: "$TOKEN --deploy"
"""

SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    + "\n".join(secrets.token_urlsafe(52)[:70] for _ in range(5))
    + "\n-----END OPENSSH PRIVATE KEY-----\n"
)


def needles(token: str) -> list[bytes]:
    """What must appear nowhere: the secrets, their base64 forms, each line of the key, the email."""
    raw = token.encode()
    forms = [
        token,
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(raw + b"\n").decode()[:-4],
        token[:13],
        token[13:],
        token[5:25],
        SSH_KEY[40:100],
    ]
    key_lines = [line for line in SSH_KEY.splitlines() if not line.startswith("-----")]
    forms += key_lines
    forms.append(base64.b64encode(SSH_KEY.strip().encode()).decode()[:60])
    return [f.encode() for f in forms]


def hits(blob: bytes, what: list[bytes]) -> list[bytes]:
    return [n for n in what if n in blob]


def ws_events(host: FloeHost, run_id: str) -> list[str]:
    """Every event of the run, replayed over the websocket, as the raw frames."""
    frames: list[str] = []
    deadline = time.monotonic() + 20
    with events(host, run=run_id) as ws:
        while True:
            frame = recv_frame(ws, deadline)
            frames.append(frame)
            if json.loads(frame)["tag"] == "sys.end.all":
                return frames


def files_under(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_secrets_never_leave_the_task(floe_host: HostFactory, tmp_path: Path) -> None:
    token = "dtok-" + secrets.token_hex(16)
    key_file = tmp_path / "outside" / "ssh_key"
    key_file.parent.mkdir()
    key_file.write_text(SSH_KEY)
    host = floe_host(
        CONFIG.replace("KEY_PATH", str(key_file)),
        env={"FLOE_E2E_DEPLOY_TOKEN": token},
    )
    run_id = host.trigger("leak", "go", {"customer_email": EMAIL})
    detail = host.wait_run("leak", run_id, ("good", "bad"))
    assert detail["status"] == "bad"
    secret_needles = [n for n in needles(token) if n != EMAIL.encode()]

    # node logs: masked, but the work really saw the values
    show = host.node_log("leak", run_id, "show")
    boom = host.node_log("leak", run_id, "boom")
    for text in (show, boom):
        assert hits(text.encode(), secret_needles) == [], text
    lines = show.splitlines()
    assert "plain: ***" in lines
    assert "a longer line with prefix-***-suffix inside, and more text after it" in lines
    assert "part of it: *** in a line" in lines
    assert any(line.startswith("+ deploy --header 'Authorization: Bearer ***'") for line in lines)
    assert any(line.startswith("ls: cannot access '/no/such/dir/***'") for line in lines), show
    assert lines.count("***") >= 5  # the halves, the base64 forms, the key's lines
    assert "program not found: ***" in boom

    # the run: reasons masked, trigger values there
    nodes = {n["id"]: n for n in detail["nodes"]}
    assert nodes["boom"]["reason"] == "program not found: ***"
    assert detail["values"]["customer_email"] == EMAIL
    answers = [
        host.get(f"/flows/leak/runs/{run_id}").content,
        host.get("/flows/leak/runs").content,
        host.get("/flows/leak").content,
        host.get("/flows").content,
        host.get("/audit").content,
    ]
    for page in (f"/app/flows/leak/runs/{run_id}", "/app/flows/leak", "/app/dash"):
        r = host.http.get(page)
        if r.status_code == 200:
            answers.append(r.content)
    for body in answers:
        assert hits(body, secret_needles) == [], body[:2000]
    assert EMAIL.encode() in answers[0]

    # every event, replayed over the websocket
    frames = ws_events(host, run_id)
    assert any(json.loads(f)["opts"].get("error") == "program not found: ***" for f in frames)
    for frame in frames:
        assert hits(frame.encode(), secret_needles) == [], frame

    # every file of the host, byte by byte, while it runs (the WAL) and after it stopped
    everything = [*secret_needles, EMAIL.encode()]
    running = files_under(host.root)
    assert any(name.endswith("floe.db-wal") for name in running)
    host.stop()
    stopped = files_under(host.root)
    assert "keys" in stopped and "store/floe.db" in stopped
    for name, blob in {**running, **stopped}.items():
        if name == "h1.yml":
            continue  # the config: names of secrets only
        assert hits(blob, everything) == [], name
    assert hits(stopped["h1.yml"], everything) == []

    # at rest: the run's documents are sealed, its index columns are not
    db = sqlite3.connect(host.root / "store" / "floe.db")
    try:
        docs = db.execute("SELECT doc FROM runs WHERE run_id = ?", (run_id,)).fetchall()
        events = db.execute("SELECT doc FROM events WHERE run_id = ?", (run_id,)).fetchall()
    finally:
        db.close()
    assert docs and all(d.startswith("enc:k1:") for (d,) in docs)
    assert events and all(d.startswith("enc:k1:") for (d,) in events)

    # restarted, the host reads its encrypted records back
    host.start()
    again = host.run("leak", run_id)
    assert again["status"] == "bad"
    assert "plain: ***" in host.node_log("leak", run_id, "show").splitlines()


def test_a_missing_secret_stops_the_host_from_starting(tmp_path: Path) -> None:
    config = CONFIG.replace("KEY_PATH", str(tmp_path / "missing-key"))
    host = FloeHost(tmp_path / "h1", config, env={"FLOE_E2E_DEPLOY_TOKEN": ""})
    try:
        try:
            host.start(wait=20)
        except RuntimeError as e:
            message = str(e)
        else:
            raise AssertionError("the host started without its secrets")
    finally:
        host.stop()
        host.http.close()
    assert "exited 1" in message
    assert "secret DEPLOY_TOKEN: environment variable FLOE_E2E_DEPLOY_TOKEN is empty" in message
    assert f"secret SSH_KEY: cannot read file {tmp_path / 'missing-key'}: No such file" in message
    assert os.environ.get("FLOE_E2E_DEPLOY_TOKEN") is None
