"""PostgreSQL stopped for 10 s in the middle of 100 runs on a real host process, then started again:
the tasks go on, new triggers get 503 naming the store, and afterwards every run has ended exactly
once and every log line is stored once."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from tests.conftest import HostFactory
from tests.support.host import wait_for
from tests.support.postgres import HOST_CONF, PgServer, ends_stored, rows

RUNS, LINES, OUTAGE = 100, 30, 10.0
CONF = (
    HOST_CONF
    + """\
  - id: chatty
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: talk
        listen: trigger.good
        type: exec
        opts: {{shell: 'for i in $(seq 1 {lines}); do echo "line $i"; sleep 0.5; done'}}
      - {{id: done, listen: task.talk.good, type: end}}
"""
)


def test_postgres_stopped_for_10s_in_the_middle_of_100_runs(
    tmp_path: Path, pg_server: PgServer, pg_url: str, floe_host: HostFactory
) -> None:
    host = floe_host(CONF.format(root=tmp_path, url=pg_url, lines=LINES), process=True)
    ids = [host.trigger("chatty") for _ in range(RUNS)]
    wait_for(lambda: all(host.run("chatty", r)["status"] == "running" for r in ids), 60, "every run running")
    pg_server.stop()
    refused: list[str] = []
    try:
        down = time.monotonic()
        while time.monotonic() - down < OUTAGE:  # the outage: each new trigger is turned away
            r = host.push("chatty", "go")
            assert r.status_code == 503, r.text
            refused.append(r.json()["error"])
            assert host.http.get("/healthz").status_code == 200
    finally:
        pg_server.start()
    assert refused and all("store" in e for e in refused), refused
    for r in ids:
        assert host.wait_run("chatty", r, timeout=120)["status"] == "good"

    ends = ends_stored(pg_url, *ids)
    assert set(ends.values()) == {1}  # every run ended exactly once
    every = Counter(str(r) for (r,) in rows(pg_url, "SELECT run_id FROM events WHERE tag = 'sys.end.all'"))
    assert sorted(every) == sorted(ids)  # and no other run ended
    want = [f"line {i}" for i in range(1, LINES + 1)]
    for r in ids:
        lines = host.node_log("chatty", r, "talk").splitlines()
        assert [line for line in lines if line.startswith("line ")] == want  # each line once, in order
    archive = "SELECT count(*) FROM runs WHERE phase = 'archive'"
    wait_for(lambda: rows(pg_url, archive)[0][0] >= RUNS, what="every run archived (written behind)")
    archived = rows(pg_url, archive)
    assert archived == [(RUNS,)], archived  # a refused trigger left no run behind


KILLED = (
    HOST_CONF
    + """\
  - id: slow
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: hold
        listen: trigger.good
        type: exec
        opts:
          shell: 'echo before; while [ ! -e {root}/go ]; do sleep 0.05; done; echo during; exec sleep 300'
"""
)


def test_a_host_killed_while_postgres_is_away_keeps_what_its_tasks_said(
    tmp_path: Path, pg_server: PgServer, pg_url: str, floe_host: HostFactory
) -> None:
    root = tmp_path / "h1"
    host = floe_host(KILLED.format(root=root, url=pg_url), process=True)
    run_id = host.trigger("slow")
    host.wait_line(run_id, "hold", lambda line: line == "before")
    journal = root / "store" / "store" / "pg-journal.jsonl"
    pg_server.stop()
    try:
        (root / "go").touch()
        # the line said during the outage is kept on the host's disk before the kill
        said = '\\"during\\"'  # the line in an event's document (the command's text has no quotes)
        wait_for(lambda: journal.exists() and said in journal.read_text(), 30, "the journaled line")
        host.kill9()
    finally:
        pg_server.start()
    host.start()
    ended = host.wait_run("slow", run_id)
    assert ended["status"] == "bad" and "host restarted while hold was running" in str(ended)
    lines = host.node_log("slow", run_id, "hold").splitlines()
    assert lines.count("before") == 1 and lines.count("during") == 1, lines
    assert not journal.exists()  # replayed into the database at start, then cleared
