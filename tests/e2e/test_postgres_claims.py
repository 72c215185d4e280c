"""Runs a claim placed on a host of one PostgreSQL database are never lost: a claimed run whose
stored document cannot be read does not keep the others of its claim from starting."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.conftest import HostFactory
from tests.e2e.test_postgres_cluster import CONF
from tests.support.host import wait_for
from tests.support.postgres import HOST_CONF, rows


def test_a_claimed_run_whose_document_cannot_be_read_does_not_keep_the_others_from_starting(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    """h2's first claim takes a pend whose stored document is damaged and h1's pend: h1's runs
    on h2, the damaged one's placement is freed and said in h2's log (the whole claim was dropped:
    both stayed placed on h2 and h1's never started)."""
    (tmp_path / "shared").mkdir()
    conf = CONF.format(root="{root}", url=pg_url, shared=tmp_path / "shared")
    h1 = floe_host(conf, name="h1", tags="linux,plain")
    rid = h1.trigger("special")  # only a host tagged special fits: none yet
    wait_for(lambda: h1.run("special", rid)["pending_reason"] == "no host with tags special", what="reason")
    with psycopg.connect(pg_url) as db:
        db.execute(
            "INSERT INTO runs(run_id, flow, phase, created, doc)"
            " VALUES('h9-1', 'special', 'pending', 1, '{\"run_id\": \"h9-1\"}')"
        )
        db.execute(
            "INSERT INTO pends(run_id, flow, host_tags, resource_tags, created, adopted_by)"
            " VALUES('h9-1', 'special', '{special}', '{}', 1, 'h9')"
        )
    h2 = floe_host(conf, name="h2", tags="linux,special")
    ended = h2.wait_run("special", rid, timeout=30)
    assert ended["status"] == "good" and ended["exec_host"] == "h2", ended
    wait_for(lambda: rows(pg_url, "SELECT run_id FROM placements") == [], what="h9-1's placement freed")
    assert "<h9-1> claimed, but its document cannot be read" in h2.log()
    assert rows(pg_url, "SELECT phase FROM runs WHERE run_id = 'h9-1'") == [("pending",)]  # as it was


REFUSE = (
    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'pends refused by the test';"
    " END $$ LANGUAGE plpgsql",
    "CREATE TRIGGER refuse BEFORE INSERT ON pends FOR EACH ROW EXECUTE FUNCTION refuse()",
)


def test_a_pend_whose_repend_fails_at_the_takeover_is_made_claimable_once_the_database_takes_it(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    """h1 made a pend and stopped; h9 claimed it and was lost before starting it (its lease ran
    out). When h3 takes h9 over, the database refuses to make the pend claimable again: h3 retries
    until it can, and h2 (the only host it fits) runs it. It stayed unclaimable until h1 started
    again."""
    (tmp_path / "shared").mkdir()
    conf = CONF.format(root="{root}", url=pg_url, shared=tmp_path / "shared")
    h1 = floe_host(conf, name="h1", tags="linux,plain")
    rid = h1.trigger("special")  # only a host tagged special fits: none yet
    wait_for(lambda: rows(pg_url, f"SELECT 1 FROM pends WHERE run_id = '{rid}'"), what="the pend")
    h1.stop()
    with psycopg.connect(pg_url) as db:  # h9 claims it, and is lost at once
        db.execute(f"DELETE FROM pends WHERE run_id = '{rid}'")
        db.execute(
            "INSERT INTO hosts(host_id, tags, max_runs, address, lease_until, started)"
            " VALUES('h9', '{special}', 0, 'http://127.0.0.1:9', now() - interval '1 s', now())"
        )
        db.execute(
            "INSERT INTO placements(run_id, host_id, flow, state) VALUES(%s, 'h9', 'special', 'running')",
            (rid,),
        )
        for sql in REFUSE:
            db.execute(sql)
    h3 = floe_host(conf, name="h3", tags="linux,plain")
    wait_for(lambda: "pends refused by the test" in h3.log(), what="h3's takeover to fail to repend")
    assert rows(pg_url, "SELECT host_id FROM hosts") == [("h3",)]  # the takeover is committed
    with psycopg.connect(pg_url) as db:
        db.execute("DROP TRIGGER refuse ON pends")
    h2 = floe_host(conf, name="h2", tags="linux,special")
    ended = h2.wait_run("special", rid, timeout=30)
    assert ended["status"] == "good" and ended["exec_host"] == "h2", ended


@pytest.mark.timeout(120)
def test_a_host_restarted_before_its_lease_ran_out_resolves_what_it_left_placed_on_itself(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    """`kill -9` of h2 while one run's task runs there and another pend is claimed by h2 but not
    started; h2 starts again before its lease ran out: the first ends `host restarted while hold
    was running`, the second runs (its placement on h2 stayed, and it never ran)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    conf = CONF.format(root="{root}", url=pg_url, shared=shared)
    h1 = floe_host(conf, name="h1", tags="linux,plain")
    h2 = floe_host(conf, name="h2", tags="linux,special", process=True)
    running = h1.trigger("slow")
    h2.wait_line(running, "hold", lambda line: line == "holding")
    h2.kill9()
    with psycopg.connect(pg_url) as db:  # a fast restart: h2's lease has not run out
        db.execute("UPDATE hosts SET lease_until = now() + interval '1 hour' WHERE host_id = 'h2'")
    claimed = h1.trigger("special")
    wait_for(lambda: rows(pg_url, f"SELECT 1 FROM pends WHERE run_id = '{claimed}'"), what="the pend")
    with psycopg.connect(pg_url) as db:  # h2 had claimed it just before it was killed
        db.execute("DELETE FROM pends WHERE run_id = %s", (claimed,))
        db.execute(
            "INSERT INTO placements(run_id, host_id, flow, state) VALUES(%s, 'h2', 'special', 'running')",
            (claimed,),
        )
        db.execute("SELECT pg_notify('floe_wake', %s)", (f"claimed {claimed} h2",))
    try:
        h2.start()
        ended = h2.wait_run("slow", running, timeout=30)
        assert ended["status"] == "bad" and "host restarted while hold was running" in ended["reason"], ended
        ended = h2.wait_run("special", claimed, timeout=30)
        assert ended["status"] == "good" and ended["exec_host"] == "h2", ended
        wait_for(lambda: rows(pg_url, "SELECT run_id FROM placements") == [], what="no placement left")
    finally:
        (shared / "release").touch()  # an orphaned task process ends


RERUN = (
    HOST_CONF
    + """\
  - id: build
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: make, listen: trigger.good, type: exec, opts: {{shell: 'echo made in $PWD > out.txt'}}}}
      - {{id: check, listen: task.make.good, type: exec, opts: {{shell: 'cat out.txt'}}}}
      - {{id: done, listen: task.check.good, type: end}}
"""
)


def test_a_partial_rerun_runs_on_the_host_that_holds_the_earlier_runs_workspace(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    """h2-1 ran on h2; `rerun?from=check` asked on h1 runs on h2 and finds the file h2-1 made;
    while h2 is away such a re-run waits, saying for whom. Any host claimed one (h1 surely while
    h2 was away), which failed there: `the workspace of h2-1 is gone from this host`."""
    conf = RERUN.format(root="{root}", url=pg_url)
    h2 = floe_host(conf, name="h2", tags="linux")
    first = h2.trigger("build")
    assert h2.wait_run("build", first)["status"] == "good"
    h1 = floe_host(conf, name="h1", tags="linux")
    made = f"made in {tmp_path}/h2/ws/spaces/build/ws/{first}\n"
    again = h1.post(f"/flows/build/runs/{first}/rerun?from=check").json()["run_id"]
    ended = h1.wait_run("build", again)
    assert ended["status"] == "good" and ended["exec_host"] == "h2", ended
    assert h1.node_log("build", again, "check").endswith(made)
    h2.stop()
    later = h1.post(f"/flows/build/runs/{first}/rerun?from=check").json()["run_id"]
    want = f"waiting for h2 (it holds the workspace of {first})"
    wait_for(lambda: h1.run("build", later)["pending_reason"] == want, what="the re-run's reason")
    h2.start()
    ended = h1.wait_run("build", later)
    assert ended["status"] == "good" and ended["exec_host"] == "h2", ended
    assert h1.node_log("build", later, "check").endswith(made)
