"""A throwaway PostgreSQL 15 cluster on a free loopback port (initdb/pg_ctl as `postgres`), stopped by PID."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.host import free_port, wait_for

PG_BIN = Path(os.environ.get("FLOE_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "postgres"
TEMPLATE = "floe_template"  # every test's database is made from it (CREATE DATABASE ... TEMPLATE)

# The start of a host's config on the PostgreSQL store, for str.format(root=..., url=...): the
# flows follow it (braces of the YAML doubled, as format wants). Its lease of LEASE seconds (10 by
# default) has a lost host taken over in at most about 5 s, with room for a busy machine's stalls.
LEASE = 4
HOST_CONF = f"""
common:
  workspace-root: {{root}}/ws
  store-root: {{root}}/store
  store-type: postgres
  store-url: {{url}}
  lease: {LEASE}
flows:
"""


def unavailable() -> str:
    """Why PostgreSQL tests are skipped ("" when they run): only when not root and the server
    binaries are missing. As root (CI) they always run: scripts/test installs `postgresql`, and a
    server that cannot start is a failure, not a skip."""
    if os.geteuid() != 0 and not (PG_BIN / "initdb").exists():
        return f"not root and no PostgreSQL server binaries in {PG_BIN} (apt-get install postgresql)"
    return ""


class PgServer:
    """`postgres` on 127.0.0.1:<port> with fsync off and its socket in the scratch dir."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.data = scratch / "data"
        self.port = 0
        self.pid = 0

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, *cmd: str) -> list[str]:
        return ["runuser", "-u", SUPERUSER, "--", *cmd] if os.geteuid() == 0 else list(cmd)

    def init(self) -> None:
        os.chmod(self.scratch, 0o700)
        if os.geteuid() == 0:
            shutil.chown(self.scratch, SUPERUSER)
        subprocess.run(
            self._as_owner(
                str(PG_BIN / "initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ),
            check=True,
            capture_output=True,
        )

    def start(self) -> PgServer:
        """Start on a free port, or (a restart after `stop()`) on the port it had."""
        keep = self.port
        for _ in range(3):  # another process may take the free port before postgres binds it
            self.port = keep or free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.scratch} -c fsync=off"
                " -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            done = subprocess.run(
                self._as_owner(
                    str(PG_BIN / "pg_ctl"),
                    "-D",
                    str(self.data),
                    "-l",
                    str(self.scratch / "server.log"),
                    "-w",
                    "-t",
                    "30",
                    "-o",
                    options,
                    "start",
                ),
                capture_output=True,
            )
            if done.returncode == 0:
                self.pid = int((self.data / "postmaster.pid").read_text().split()[0])
                return self
        raise RuntimeError(f"postgres did not start:\n{self.log()}")

    def stop(self, *, immediate: bool = False) -> None:
        """Stop the postmaster by its PID (fast shutdown: every client is disconnected; with
        `immediate`, no shutdown checkpoint either, for a server thrown away) and wait for it to
        exit; `start()` starts it again on the same port."""
        if not self.pid:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGQUIT if immediate else signal.SIGINT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and _alive(self.pid):
            time.sleep(0.02)
        if _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        self.pid = 0

    def sql(self, statement: str, database: str = "postgres") -> None:
        """Run one statement with autocommit (CREATE DATABASE cannot run in a transaction)."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as db:
            db.execute(statement)  # type: ignore[arg-type]

    def database(self) -> str:
        """A fresh, empty database of this server (copied from the template); its URL."""
        name = f"t_{secrets.token_hex(6)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.scratch / "server.log").read_text(errors="replace")[-4000:]
        return ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.split(") ")[-1][:1] != "Z"  # a zombie has exited


@contextlib.contextmanager
def running_postgres() -> Iterator[PgServer]:
    """One server for the test session, its scratch dir removed afterwards."""
    scratch = Path(tempfile.mkdtemp(prefix="floe-pg-"))
    server = PgServer(scratch)
    try:
        server.init()
        server.start()
        server.sql(f"CREATE DATABASE {TEMPLATE}")
        yield server
    finally:
        server.stop(immediate=True)
        shutil.rmtree(scratch, ignore_errors=True)


def rows(url: str, sql: str) -> list[tuple[object, ...]]:
    """The rows of one query on the database at `url` (its own connection, closed after)."""
    import psycopg

    with psycopg.connect(url) as db:
        return db.execute(sql.encode()).fetchall()


def ends_stored(url: str, *run_ids: str, timeout: float = 20.0) -> dict[str, int]:
    """How many `sys.end.all` events each run has in the database, once each has one: a host
    answers a run's end from memory, and its write lands a moment later (written behind)."""
    import psycopg

    def count() -> dict[str, int]:
        with psycopg.connect(url) as db:
            found = db.execute(
                b"SELECT run_id, count(*) FROM events WHERE tag = 'sys.end.all' AND run_id = ANY(%s)"
                b" GROUP BY run_id",
                (list(run_ids),),
            ).fetchall()
        return {str(r): int(n) for r, n in found}

    wait_for(lambda: len(count()) == len(run_ids), timeout, "every run's end in the database")
    return count()
