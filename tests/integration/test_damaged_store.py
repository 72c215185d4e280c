"""A damaged store under a real host: an empty or foreign database file and a wrong keys file stop
the host with one line naming the file and the fix; a damaged record makes only its run unreadable."""

from __future__ import annotations

import base64
import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosedError

from tests.support.host import FloeHost
from tests.support.stream import events

CONF = """
common:
  workspace-root: {root}/ws
  store-type: local
  store-root: {root}/store
flows:
  - id: quick
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: work, listen: trigger.good, type: exec, opts: {shell: "echo hello"}}
  - id: slow
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: nap, listen: trigger.good, type: exec, opts: {shell: "echo napping; sleep 60"}}
"""


def db_path(host: FloeHost) -> Path:
    return host.root / "store" / "store" / "floe.db"


def refused(host: FloeHost) -> str:
    """Start the host, which must exit non-zero; the last line it wrote."""
    with pytest.raises(RuntimeError, match="exited"):
        host.start()
    assert host.proc is not None and host.proc.returncode != 0
    log = host.log()
    assert "Traceback" not in log and "TaskGroup" not in log, log
    return log.strip().splitlines()[-1]


def tamper(db: Path, run_id: str) -> None:
    """Flip one bit of the run's sealed document, as a disk error or a hand edit would."""
    with contextlib.closing(sqlite3.connect(db, isolation_level=None)) as conn:
        (doc,) = conn.execute("SELECT doc FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        prefix, _, body = doc.rpartition(":")
        raw = bytearray(base64.b64decode(body))
        raw[20] ^= 1
        sealed = f"{prefix}:{base64.b64encode(bytes(raw)).decode()}"
        conn.execute("UPDATE runs SET doc = ? WHERE run_id = ?", (sealed, run_id))


@pytest.fixture
def host(tmp_path: Path) -> Iterator[FloeHost]:
    h = FloeHost(tmp_path / "h1", CONF)
    yield h
    h.stop()
    h.http.close()


def test_an_empty_database_file_is_refused_with_the_fix(host: FloeHost) -> None:
    db_path(host).parent.mkdir(parents=True)
    db_path(host).touch()
    line = refused(host)
    assert f"floe: {db_path(host)} is empty (0 bytes)" in line and "Restore it from a backup" in line, line


def test_a_file_that_is_not_a_database_is_refused_with_the_fix(host: FloeHost) -> None:
    db_path(host).parent.mkdir(parents=True)
    db_path(host).write_bytes(b"this is not a database, it is a note\n" * 200)
    line = refused(host)
    assert f"floe: {db_path(host)} is not a floe store" in line and "restore it from a backup" in line, line


def test_a_keys_file_that_does_not_open_the_store_is_refused_with_the_fix(host: FloeHost) -> None:
    host.start()
    host.wait_run("quick", host.trigger("quick"))
    slow = host.trigger("slow")
    host.wait_line(slow, "nap", lambda line: line == "napping")
    host.kill9()  # an active run must be recovered at the next start
    keys = host.root / "store" / "keys"
    keys.write_text("k1 " + base64.b64encode(b"x" * 32).decode() + "\n")  # a new key under the old id
    line = refused(host)
    assert f"floe: {keys}: key k1 is not the key the records of" in line, line
    assert "put back the keys file from its backup" in line, line
    keys.write_text("k2 " + base64.b64encode(b"y" * 32).decode() + "\n")  # none of the store's keys
    line = refused(host)
    assert f"floe: {keys} holds none of the keys (k1) the records of" in line, line
    keys.write_text("k1 not-base64\n")
    assert refused(host) == f"floe: {keys}:1: key k1 is not base64"


def test_one_damaged_record_makes_one_run_unreadable_not_the_list(host: FloeHost) -> None:
    host.start()
    good = [host.trigger("quick") for _ in range(3)]
    for rid in good:
        host.wait_run("quick", rid)
    slow = host.trigger("slow")
    host.wait_line(slow, "nap", lambda line: line == "napping")
    host.kill9()
    bad = good.pop(1)
    tamper(db_path(host), bad)
    tamper(db_path(host), slow)  # an active run: the host still starts, and leaves it be
    host.start()
    listing = host.get("/flows/quick/runs")
    assert listing.status_code == 200, listing.text
    archive = {r["run_id"]: r for r in listing.json()["archive"]}
    assert set(archive) == {*good, bad}
    assert archive[bad]["status"] == "unreadable"
    assert f"run {bad}: its stored record cannot be read" in archive[bad]["error"]
    assert all(archive[rid]["status"] == "good" for rid in good)
    detail = host.get(f"/flows/quick/runs/{bad}")
    assert detail.status_code == 500 and detail.json()["run_id"] == bad, detail.text
    assert "fails authentication" in detail.json()["error"], detail.text
    assert host.get(f"/flows/quick/runs/{bad}/nodes/work/log").status_code == 500
    with pytest.raises(ConnectionClosedError) as closed, events(host, run=bad) as ws:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    assert f"run {bad}: its stored record cannot be read" in closed.value.rcvd.reason
    assert host.run("quick", good[0])["status"] == "good"
    assert host.get("/flows/slow/runs").status_code == 200
    log = host.log()
    assert f"run {slow}: its stored record cannot be read" in log and "neither resumed nor ended" in log
    assert "Traceback" not in log, log
    assert host.wait_run("quick", host.trigger("quick"))["status"] == "good"  # the host works on
