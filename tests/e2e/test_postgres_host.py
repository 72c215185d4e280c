"""A real `floe` host on the PostgreSQL store: runs, logs and ids in the database, `kill -9` and
restart, an outage of the database, and a standby started after the host's lease expired (hosts
sharing one database at once: tests/e2e/test_postgres_cluster.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import HostFactory
from tests.support.host import wait_for
from tests.support.postgres import HOST_CONF, PgServer, rows

CONF = (
    HOST_CONF
    + """\
  - id: slow
    ver: 1
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: hold
        listen: trigger.good
        type: exec
        opts: {{shell: 'echo holding; while [ ! -e {root}/release ]; do sleep 0.05; done'}}
      - {{id: done, listen: task.hold.good, type: end}}
"""
)


def phases(url: str) -> dict[str, str]:
    return {
        str(rid): str(phase)
        for rid, phase in rows(url, "SELECT run_id, phase FROM runs WHERE run_id LIKE 'h1-%'")
    }


def test_a_host_keeps_its_runs_in_postgres_across_kill_9(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    conf = CONF.format(root=tmp_path, url=pg_url)
    host = floe_host(conf, process=True)
    (tmp_path / "release").touch()
    first = host.trigger("slow")
    assert host.wait_run("slow", first)["status"] == "good"
    assert host.node_log("slow", first, "hold").endswith("\nholding\n")
    (tmp_path / "release").unlink()
    second = host.trigger("slow")
    host.wait_line(second, "hold", lambda line: line == "holding")
    assert rows(pg_url, "SELECT host_id FROM hosts") == [("h1",)]  # the lease

    host.kill9()
    host.start()
    ended = host.wait_run("slow", second)
    assert ended["status"] == "bad" and "host restarted while hold was running" in str(ended)
    (tmp_path / "release").touch()
    third = host.trigger("slow")
    assert host.wait_run("slow", third)["status"] == "good"
    assert int(third.split("-")[1]) > int(second.split("-")[1])
    want = {first: "archive", second: "archive", third: "archive"}
    # an ended run is written behind (the API answers it from the store's buffer meanwhile)
    wait_for(lambda: phases(pg_url) == want, what=f"archived in the database: {want}")
    host.stop()
    assert rows(pg_url, "SELECT host_id FROM hosts") == []  # a clean stop gives the lease back


def test_the_database_stopped_under_a_running_host_is_an_outage_not_a_loss(
    tmp_path: Path, pg_server: PgServer, floe_host: HostFactory
) -> None:
    """PostgreSQL stopped: the host answers /healthz, a trigger gets 503 naming the store, the
    running run goes on; once the database is back every run ends once, every log line stored once."""
    url = pg_server.database()
    host = floe_host(CONF.format(root=tmp_path, url=url))
    before = host.trigger("slow")
    host.wait_line(before, "hold", lambda line: line == "holding")
    pg_server.stop()
    try:
        r = host.push("slow", "go")
        assert r.status_code == 503, r.text
        assert "store" in r.json()["error"]
        during = r.json().get("run_id")
        assert host.http.get(f"http://127.0.0.1:{host.port}/healthz").status_code == 200
        (tmp_path / "release").touch()  # the running task ends while the database is away
    finally:
        pg_server.start()
    assert host.wait_run("slow", before, timeout=60)["status"] == "good"
    runs = [before, *([during] if during else [])]
    for rid in runs:
        assert host.wait_run("slow", rid, timeout=60)["status"] == "good"
    for rid in runs:
        ends = rows(url, f"SELECT count(*) FROM events WHERE run_id = '{rid}' AND tag = 'sys.end.all'")
        lines = rows(url, f"SELECT count(*) FROM events WHERE run_id = '{rid}' AND tag = 'sys.node.update'")
        assert ends == [(1,)] and lines[0][0] >= 1
        assert host.node_log("slow", rid, "hold").count("holding\n") == 1


@pytest.mark.timeout(120)
def test_a_host_started_after_another_ones_lease_expired_resolves_its_runs(
    tmp_path: Path, pg_url: str, floe_host: HostFactory
) -> None:
    """`kill -9` of h1 mid-task; once its lease has run out h2 starts on the same database, takes
    h1 over and ends h1's interrupted run with the reason; h2 then runs new runs."""
    h1 = floe_host(CONF.format(root=tmp_path / "h1", url=pg_url), name="h1", process=True)
    interrupted = h1.trigger("slow")
    h1.wait_line(interrupted, "hold", lambda line: line == "holding")
    h1.kill9()
    try:
        wait_for(
            lambda: rows(pg_url, "SELECT count(*) FROM hosts WHERE lease_until > now()") == [(0,)],
            timeout=60,
            what="h1's lease to run out",
        )
        h2 = floe_host(CONF.format(root=tmp_path / "h2", url=pg_url), name="h2")
        ended = h2.wait_run("slow", interrupted, timeout=60)
        assert ended["status"] == "bad", ended
        assert "host h1 lost while hold was running" in str(ended)
        assert rows(pg_url, "SELECT host_id FROM hosts") == [("h2",)]  # h1's lease row is gone
        (tmp_path / "h2" / "release").touch()
        fresh = h2.trigger("slow")
        assert fresh.startswith("h2-") and h2.wait_run("slow", fresh)["status"] == "good"
    finally:
        (tmp_path / "h1" / "release").touch()  # h1's orphaned task process ends
