"""`floe store migrate`: a host's SQLite history moved into PostgreSQL, and a second run adds nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from floe.hub.controls import AuditTrail
from floe.hub.ids import RunIds
from floe.model.host import AUDIT
from floe.store.local import LocalStore
from floe.store.postgres import PgStore


def migrate(conf: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "floe", "store", "migrate", "--conf", str(conf)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def count(url: str, sql: str) -> int:
    with psycopg.connect(url) as db:
        row = db.execute(sql.encode()).fetchone()
        return int(row[0]) if row else 0


async def test_migrate_moves_everything_once(tmp_path: Path, pg_url: str) -> None:
    local = LocalStore(tmp_path / "store")
    await local.open()
    ids = RunIds(local, "h1")
    for i in range(1, 4):
        await ids.promise()
        ids.arrived()
        ids.took(i)
        run_id = f"h1-{i}"
        local.put_run({"run_id": run_id, "flow": "build", "phase": "archive", "created": float(i)})
        for seq in (1, 2):
            opts = {"line": f"{run_id} line {seq}"}
            local.append_event({"run_id": run_id, "seq": seq, "source_node": "a", "tag": "sys.node.update",
                                "opts": opts})  # fmt: skip
        entry = {"by": "admin", "action": "trigger", "flow": "build", "run_id": run_id, "seq": i}
        local.append_event({"run_id": AUDIT, "flow": "build", "seq": i, "tag": "audit", "source_node": "",
                            "good": True, "opts": entry, "at": 1000.0})  # fmt: skip
        local.put_kv("audit-seq", i)
    local.put_kv("timer/build/nightly", {"last_fire": 999.0})
    ids.stopping()
    await local.close()
    conf = tmp_path / "conf.yml"
    conf.write_text(
        f"common:\n  store-type: postgres\n  store-url: {pg_url}\n  store-root: {tmp_path}\n"
        "flows:\n  - id: build\n    tasks:\n      - {id: a, type: end, listen: trigger.good}\n"
    )

    first = migrate(conf)
    assert first.returncode == 0, first.stderr
    assert "moved 3 runs, 6 events" in first.stdout and "3 audit entries" in first.stdout
    again = migrate(conf)
    assert again.returncode == 0, again.stderr
    assert "moved 0 runs, 0 events, 0 keys and 0 audit entries" in again.stdout
    assert count(pg_url, "SELECT count(*) FROM runs") == 3
    assert count(pg_url, "SELECT count(*) FROM events WHERE run_id <> '_audit'") == 6
    assert count(pg_url, "SELECT count(*) FROM events WHERE run_id = '_audit'") == 3

    store = PgStore(pg_url)
    await store.open()
    try:
        assert await store.node_log("h1-2", "a") == ["h1-2 line 1", "h1-2 line 2"]
        assert await store.get_kv("counter/h1") == 3  # ids go on from h1-4 on PostgreSQL
        assert await store.get_kv("timer/build/nightly") == {"last_fire": 999.0}
        trail = AuditTrail(store, lambda msg: None)
        assert [e["run_id"] for e in await trail.entries()] == ["h1-1", "h1-2", "h1-3"]
    finally:
        await store.close()


def test_migrate_refuses_a_config_that_is_not_postgres(tmp_path: Path) -> None:
    conf = tmp_path / "conf.yml"
    conf.write_text(f"common:\n  store-root: {tmp_path}\nflows: []\n")
    done = migrate(conf)
    assert done.returncode == 1 and "not postgres" in done.stderr and "Traceback" not in done.stderr
