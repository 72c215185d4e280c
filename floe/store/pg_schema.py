"""The PostgreSQL store's schema: its versions in order, applied at open under an advisory lock."""

from __future__ import annotations

import psycopg

from floe.store.errors import StoreError

SCHEMA_VERSION = 2
_LOCK = 0x666C6F65  # pg_advisory_xact_lock key: hosts that start together migrate one at a time

# MIGRATIONS[n] takes a database from version n to n + 1
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        "CREATE TABLE runs(run_id text PRIMARY KEY, flow text NOT NULL, phase text NOT NULL,"
        " created double precision NOT NULL, doc text NOT NULL)",
        "CREATE INDEX runs_phase_flow_created ON runs(phase, flow, created)",
        "CREATE INDEX runs_phase_created ON runs(phase, created)",
        "CREATE TABLE events(run_id text NOT NULL, seq bigint NOT NULL, node text NOT NULL,"
        " tag text NOT NULL, doc text NOT NULL, PRIMARY KEY(run_id, seq))",
        "CREATE INDEX events_node ON events(run_id, node, seq)",
        "CREATE TABLE kv(key text PRIMARY KEY, value text NOT NULL)",
        # the cluster (floe/cluster/pg.py): leases, pends to claim, where runs are, reservations
        "CREATE TABLE hosts(host_id text PRIMARY KEY, tags text[] NOT NULL, max_runs integer NOT NULL,"
        " address text NOT NULL, lease_until timestamptz NOT NULL, started timestamptz NOT NULL)",
        "CREATE TABLE pends(run_id text PRIMARY KEY, flow text NOT NULL, host_tags text[] NOT NULL,"
        " resource_tags text[] NOT NULL, created double precision NOT NULL, adopted_by text NOT NULL,"
        " reason text NOT NULL DEFAULT '')",
        "CREATE INDEX pends_created ON pends(created)",
        "CREATE TABLE placements(run_id text PRIMARY KEY, host_id text NOT NULL, flow text NOT NULL,"
        " state text NOT NULL CHECK (state IN ('running', 'gate')), node text NOT NULL DEFAULT '')",
        "CREATE INDEX placements_host ON placements(host_id)",
        "CREATE TABLE reservations(tag text PRIMARY KEY,"
        " run_id text NOT NULL REFERENCES placements(run_id) ON DELETE CASCADE)",
        "CREATE INDEX reservations_run ON reservations(run_id)",
    ),
    (
        # admission policies across the cluster (floe/cluster/pg_admit.py): runs admitted and not
        # yet stored, and the flows' token buckets
        "CREATE TABLE admissions(run_id text PRIMARY KEY, flow text NOT NULL, host_id text NOT NULL,"
        " at timestamptz NOT NULL)",
        "CREATE INDEX admissions_flow ON admissions(flow)",
        "CREATE TABLE buckets(flow text NOT NULL, policy text NOT NULL, tokens double precision NOT NULL,"
        " at double precision NOT NULL, PRIMARY KEY(flow, policy))",
        # a partial re-run's pend is claimed only by the host `pinned` (it holds the workspace of
        # run `workspace_of`)
        "ALTER TABLE pends ADD COLUMN pinned text NOT NULL DEFAULT '',"
        " ADD COLUMN workspace_of text NOT NULL DEFAULT ''",
    ),
)


async def migrate(db: psycopg.AsyncConnection[tuple[object, ...]], where: str) -> int:
    """Create or upgrade the schema in one transaction; the version found before. StoreError when
    the database was made by a newer floe (its schema is not changed then)."""
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK,))
        await db.execute("CREATE TABLE IF NOT EXISTS floe_meta(key text PRIMARY KEY, value text NOT NULL)")
        cur = await db.execute("SELECT value FROM floe_meta WHERE key = 'schema_version'")
        row = await cur.fetchone()
        found = int(str(row[0])) if row is not None else 0
        if found > SCHEMA_VERSION:
            raise StoreError(
                f"{where}: the database has schema version {found}, newer than this floe knows "
                f"({SCHEMA_VERSION}): upgrade floe on this host (a host never writes a newer schema)"
            )
        for steps in MIGRATIONS[found:]:
            for statement in steps:
                await db.execute(statement.encode())
        await db.execute(
            "INSERT INTO floe_meta(key, value) VALUES('schema_version', %s)"
            " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (str(SCHEMA_VERSION),),
        )
    return found
