"""Edges of a PostgreSQL outage on a real host process: what the host acknowledges while the database
is away survives a `kill -9` (or is refused with 503); the database hung (SIGSTOP of the server and
its sessions, not stopped): the host keeps answering, and after SIGCONT every write lands once."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import HostFactory
from tests.support.host import wait_for
from tests.support.postgres import PgServer, ends_stored

CONF = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  store-type: postgres
  store-url: {url}
flows:
  - id: asked
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: gate, listen: trigger.good, type: data, opts: {{form: {{fields: [{{id: ok, type: string}}]}}}}}}
      - id: after
        listen: task.gate.good
        type: exec
        opts: {{shell: 'echo "start $FLOE_RUN_ID" >> {root}/ledger'}}
      - {{id: done, listen: task.after.good, type: end}}
  - id: slow
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: nap, listen: trigger.good, type: exec, opts: {{shell: 'echo napping; exec sleep 120'}}}}
  - id: talk
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: say
        listen: trigger.good
        type: exec
        opts: {{shell: 'for i in $(seq 1 {lines}); do echo "line $i"; sleep 0.2; done'}}
      - {{id: done, listen: task.say.good, type: end}}
"""
LINES = 40
# while the database is stopped each request is refused after 2 s, not 5 (the wait adds nothing)
AWAY = CONF.replace("  store-url: {url}\n", "  store-url: {url}\n  store-timeout: 2\n")


def rows(url: str, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as db:
        return db.execute(sql.encode(), args).fetchall()


def answered(r: httpx.Response, took: float) -> bool:
    """Whether the host acknowledged the request; a refusal must be a prompt 503 naming the store."""
    if r.status_code < 300:
        return True
    assert r.status_code == 503 and "store" in r.json()["error"], r.text
    assert took < 15, f"the refusal took {took:.1f}s"
    return False


@pytest.mark.timeout(120)
def test_what_a_host_acknowledges_while_postgres_is_away_survives_a_kill_9(
    tmp_path: Path, pg_server: PgServer, pg_url: str, floe_host: HostFactory
) -> None:
    """A gate's answer, a cancel and a trigger sent while the database is stopped; `kill -9` of the
    host right after they are answered, still during the outage; the database back, the host
    started again: each request answered 2xx took effect, each refused one is a 503 naming the
    store, and the gate's task ran at most once."""
    root = tmp_path / "h1"
    host = floe_host(AWAY.format(root=root, url=pg_url, lines=LINES), process=True)
    gated = host.trigger("asked")
    wait_for(lambda: host.run("asked", gated)["status"] == "waiting", what="the gate waiting")
    napping = host.trigger("slow")
    host.wait_line(napping, "nap", lambda line: line == "napping")
    pg_server.stop()
    try:
        acked: dict[str, bool] = {}
        for what, call in (
            ("answer", lambda: host.push("asked", "gate", {"ok": "yes"}, run=gated)),
            ("cancel", lambda: host.post(f"/flows/slow/runs/{napping}/cancel")),
            ("trigger", lambda: host.push("slow", "go")),
        ):
            t = time.monotonic()
            r = call()
            acked[what] = answered(r, time.monotonic() - t)
        host.kill9()
    finally:
        pg_server.start()
    host.start()
    if acked["answer"]:
        assert host.wait_run("asked", gated)["status"] in ("good", "bad")
    if acked["cancel"]:
        assert host.wait_run("slow", napping)["status"] == "cancelled"
    if acked["trigger"]:
        assert len(rows(pg_url, "SELECT 1 FROM runs WHERE flow = 'slow'")) == 2
    ledger = root / "ledger"
    ran = Counter(ledger.read_text().split()) if ledger.exists() else Counter()
    assert ran[gated] <= 1
    print(f"\nacknowledged during the outage: {acked}")


def _hang(pg_server: PgServer, url: str) -> list[int]:
    """SIGSTOP of the server and every session of the database at `url`: no error, no answer."""
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(pg_server.url(), autocommit=True) as admin:
        found = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)).fetchall()
    stopped = []
    for pid in [pg_server.pid, *(pid for (pid,) in found)]:
        os.kill(pid, signal.SIGSTOP)
        stopped.append(pid)
    return stopped


@pytest.mark.timeout(150)
def test_a_hung_postgres_keeps_the_host_answering_and_every_write_lands_once_after_sigcont(
    tmp_path: Path, pg_server: PgServer, pg_url: str, floe_host: HostFactory
) -> None:
    """The database hung for 8 s while a run prints 40 lines: /healthz and the run held here answer
    promptly throughout, a trigger gets 503 naming the store; after SIGCONT the run ends good once
    and each line is stored once, in order."""
    host = floe_host(CONF.format(root=tmp_path / "h1", url=pg_url, lines=LINES), process=True)
    rid = host.trigger("talk")
    host.wait_line(rid, "say", lambda line: line == "line 1")
    stopped = _hang(pg_server, pg_url)
    slowest = 0.0
    try:
        hung = time.monotonic()
        while time.monotonic() - hung < 8:
            t = time.monotonic()
            assert host.http.get("/healthz").status_code == 200
            assert host.run("talk", rid)["status"] == "running"  # held by this host: from memory
            slowest = max(slowest, time.monotonic() - t)
        t = time.monotonic()
        r = host.push("talk", "go")
        assert r.status_code == 503 and "store" in r.json()["error"], r.text
        assert time.monotonic() - t < 15
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    assert slowest < 2.0, f"an answer took {slowest:.1f}s while the database was hung"
    assert host.wait_run("talk", rid, timeout=60)["status"] == "good"
    assert ends_stored(pg_url, rid) == {rid: 1}
    lines = [x for x in host.node_log("talk", rid, "say").splitlines() if x.startswith("line ")]
    assert lines == [f"line {i}" for i in range(1, LINES + 1)]
    print(f"\npostgres hung 8 s: slowest /healthz + run detail {slowest * 1000:.0f} ms")


@pytest.mark.timeout(120)
def test_a_host_killed_while_postgres_is_hung_keeps_what_its_task_said(
    tmp_path: Path, pg_server: PgServer, pg_url: str, floe_host: HostFactory
) -> None:
    """The database hung (no error, no answer: the batch in flight never returns) while a task
    prints; the lines said meanwhile reach the host's journal, `kill -9`, SIGCONT, restart: each
    line is in the database once (before: a hung batch was never journaled, so they were lost)."""
    root = tmp_path / "h1"
    host = floe_host(CONF.format(root=root, url=pg_url, lines=LINES), process=True)
    rid = host.trigger("talk")
    host.wait_line(rid, "say", lambda line: line == "line 1")
    journal = root / "store" / "store" / "pg-journal.jsonl"
    stopped = _hang(pg_server, pg_url)
    try:
        said = '\\"line 8\\"'  # as an event's document in the journal holds it
        wait_for(lambda: journal.exists() and said in journal.read_text(), 20, "the line in the journal")
        host.kill9()
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    host.start()
    ended = host.wait_run("talk", rid)
    assert ended["status"] == "bad" and "host restarted while say was running" in ended["reason"], ended
    lines = [x for x in host.node_log("talk", rid, "say").splitlines() if x.startswith("line ")]
    assert lines[:8] == [f"line {i}" for i in range(1, 9)] and len(lines) == len(set(lines)), lines
    assert not journal.exists()
