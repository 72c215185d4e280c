"""Races of placement through one PostgreSQL database, on real `floe` host processes: a host that
dies between storing a pend and making it claimable, a pend cancelled while another host claims it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest

from tests.conftest import HostFactory
from tests.e2e.test_postgres_cluster import two_hosts
from tests.support.host import wait_for


@pytest.mark.timeout(120)
def test_a_pend_whose_host_died_before_making_it_claimable_runs_on_the_survivor(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    """h1 stores the pend (its trigger answered) but dies before `add_pend` commits: h2's takeover
    of h1 makes it claimable and h2 runs it, not only when h1 starts again."""
    h1, h2 = two_hosts(tmp_path, pg_url, floe_host)
    with psycopg.connect(pg_url) as hold:  # the pends table is busy: add_pend waits
        hold.execute("LOCK TABLE pends IN ACCESS EXCLUSIVE MODE")
        rid = h1.trigger("special")
        wait_for(lambda: _lock_waiters(pg_url, "INSERT INTO pends") > 0, what="h1's add_pend to wait")
        h1.kill9()
        hold.rollback()
    ended = h2.wait_run("special", rid, timeout=60)
    assert ended["status"] == "good" and ended["exec_host"] == "h2", ended


@pytest.mark.timeout(120)
def test_a_pend_cancelled_while_another_host_claims_it_is_not_run_after_the_cancel_answered(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    """h2's claim of h1's pend waits on its resource tag while h1 is asked to cancel it: the
    cancel answers 202 and the run never runs, or (the claim won) says which host runs it. It
    answered 202 while h2, having read the pend before the cancel was written, ran it."""
    h1, _ = two_hosts(tmp_path, pg_url, floe_host)
    with psycopg.connect(pg_url) as tag, psycopg.connect(pg_url) as doc:
        tag.execute("INSERT INTO placements(run_id, host_id, flow, state) VALUES('x', 'h9', 'f', 'running')")
        tag.execute("INSERT INTO reservations(tag, run_id) VALUES('db', 'x')")  # not committed: claims wait
        rid = h1.trigger("locked2")
        wait_for(lambda: _lock_waiters(pg_url, "INSERT INTO reservations") == 1, what="h2's claim to wait")
        doc.execute("SELECT 1 FROM runs WHERE run_id = %s FOR UPDATE", (rid,))  # run writes wait
        with ThreadPoolExecutor(1) as pool:
            cancel = pool.submit(h1.post, f"/flows/locked2/runs/{rid}/cancel")
            wait_for(lambda: _lock_waiters(pg_url, "") >= 2, what="the cancel to wait for the claim")
            tag.rollback()
            wait_for(
                lambda: cancel.done() or _lock_waiters(pg_url, "INSERT INTO runs") >= 2, what="h2's write"
            )
            doc.rollback()
            answer = cancel.result(timeout=30)
    ended = h1.wait_run("locked2", rid, timeout=60)
    ran = (tmp_path / "shared" / "times").exists()
    if answer.status_code == 202:
        assert ended["status"] == "cancelled" and not ran, (ended, ran)
    else:
        assert answer.status_code == 409 and "h2" in answer.json()["error"], answer.text
        assert ended["status"] == "good" and ended["exec_host"] == "h2" and ran, ended


def _lock_waiters(url: str, query: str) -> int:
    """How many backends wait for a lock (running a statement with `query` in it)."""
    with psycopg.connect(url) as db:
        got = db.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            (f"%{query}%",),
        ).fetchone()
    return int(got[0]) if got else 0
