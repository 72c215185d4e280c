"""Cluster coordination on the PostgreSQL store: host leases, atomic claims of pends, resource-tag
reservations as rows, LISTEN/NOTIFY wake-ups, and the takeover of a host whose lease expired.

Every function runs in one transaction of its own on the connection it is given (autocommit
connections, as the store's pool hands out), and uses the database's clock for leases, so hosts'
clocks need not agree. The tables are made by floe/store/pg_schema.py."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

Conn = psycopg.AsyncConnection[tuple[Any, ...]]
_RUN_LOCK = 0x666C6F  # advisory locks (this key, hashtext(run id)): a claim and add_pend of one run
WAKE = "floe_wake"  # the NOTIFY channel: a pend was added, a run ended, a host left or was taken over


@dataclass(frozen=True, slots=True)
class Pend:
    """A pending run as the cluster places it."""

    run_id: str
    flow: str
    host_tags: tuple[str, ...] = ()
    resource_tags: tuple[str, ...] = ()
    created: float = 0.0
    adopted_by: str = ""
    pinned: str = ""  # the only host that takes it: it holds the workspace (of run `workspace_of`)
    workspace_of: str = ""  # a partial re-run starts from it there


@dataclass(frozen=True, slots=True)
class Takeover:
    """What one takeover found: the hosts whose lease expired, and their placed runs."""

    hosts: tuple[str, ...] = ()
    lost: tuple[Lost, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.hosts)


@dataclass(frozen=True, slots=True)
class Lost:
    """A run of a host whose lease expired: `state` `running` (interrupted at `node`) or `gate`."""

    run_id: str
    flow: str
    host: str
    state: str
    node: str


async def heartbeat(
    db: Conn, host: str, tags: Sequence[str], max_runs: int, address: str, lease: float
) -> datetime:
    """Take or renew `host`'s lease for `lease` seconds (a host with `max_runs` 0 takes any number);
    when the lease row was taken (its `started`: a new one each time the row is made)."""
    cur = await db.execute(
        "INSERT INTO hosts(host_id, tags, max_runs, address, lease_until, started)"
        " VALUES(%s, %s, %s, %s, now() + make_interval(secs => %s), now()) ON CONFLICT(host_id) DO UPDATE"
        " SET tags = excluded.tags, max_runs = excluded.max_runs, address = excluded.address,"
        " lease_until = excluded.lease_until RETURNING started",
        (host, sorted(tags), max_runs, address, lease),
    )
    row = await cur.fetchone()
    assert row is not None  # an upsert returns its row
    started: datetime = row[0]
    return started


async def renew(db: Conn, host: str, lease: float) -> bool:
    """Renew `host`'s lease row for `lease` seconds; False when it has none any more (another host
    took it over while it was hung or cut off: its runs are resolved)."""
    cur = await db.execute(
        "UPDATE hosts SET lease_until = now() + make_interval(secs => %s) WHERE host_id = %s", (lease, host)
    )
    return bool(cur.rowcount)


async def leave(db: Conn, host: str) -> None:
    """A clean stop: the host's lease ends now (its runs were ended or handed over before)."""
    async with db.transaction():
        await db.execute("DELETE FROM hosts WHERE host_id = %s", (host,))
        await db.execute("SELECT pg_notify(%s, %s)", (WAKE, f"left {host}"))


async def live_hosts(db: Conn) -> list[str]:
    cur = await db.execute("SELECT host_id FROM hosts WHERE lease_until > now() ORDER BY host_id")
    return [h for (h,) in await cur.fetchall()]


async def addresses(db: Conn) -> dict[str, str]:
    """The address of each live host (whose lease has not run out), by host id."""
    cur = await db.execute("SELECT host_id, address FROM hosts WHERE lease_until > now()")
    return {host: address for host, address in await cur.fetchall()}


async def placed_on(db: Conn, run_id: str) -> str:
    """The host a run is placed on ("" when it is not placed: a pend, or a run that ended)."""
    cur = await db.execute("SELECT host_id FROM placements WHERE run_id = %s", (run_id,))
    row = await cur.fetchone()
    return str(row[0]) if row else ""


async def placed_here(db: Conn, host: str) -> list[str]:
    """The runs placed on `host` (at its start: what it left placed when it was killed)."""
    cur = await db.execute("SELECT run_id FROM placements WHERE host_id = %s ORDER BY run_id", (host,))
    return [run_id for (run_id,) in await cur.fetchall()]


async def add_pend(db: Conn, pend: Pend) -> None:
    """Make a pend claimable by every live host (idempotent by run id), and wake them. A run
    already claimed (placed, or no longer pending in the store) is not made claimable again (its
    host restarting before the claimer wrote the run must not have it run twice); a claim taking
    the run at this moment is waited for (a lock per run id, which a claim holds for the pends
    it takes)."""
    # one round trip: in pipeline mode (on an autocommit connection) the statements up to the
    # pipeline's end are one implicit transaction, which holds the lock until it commits
    async with db.pipeline():
        await db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_RUN_LOCK, pend.run_id))
        await db.execute(
            "INSERT INTO pends(run_id, flow, host_tags, resource_tags, created, adopted_by, pinned,"
            " workspace_of, reason) SELECT %s, %s, %s, %s, %s, %s, %s, %s, 'waiting for a host to claim it'"
            " WHERE NOT EXISTS (SELECT 1 FROM placements WHERE run_id = %s)"
            " AND NOT EXISTS (SELECT 1 FROM runs WHERE run_id = %s AND phase <> 'pending')"
            " ON CONFLICT DO NOTHING",
            (
                pend.run_id,
                pend.flow,
                list(pend.host_tags),
                list(pend.resource_tags),
                pend.created,
                pend.adopted_by,
                pend.pinned,
                pend.workspace_of,
                pend.run_id,
                pend.run_id,
            ),
        )
        note = f"pend {pend.run_id} {pend.adopted_by} {json.dumps(list(pend.host_tags))}"
        await db.execute("SELECT pg_notify(%s, %s)", (WAKE, note))


async def unpend(db: Conn, run_id: str) -> None:
    """The pend ended before any host claimed it (cancelled): no host claims it now."""
    await db.execute("DELETE FROM pends WHERE run_id = %s", (run_id,))


async def withdraw(db: Conn, run_id: str, wait: float = 5.0) -> str:
    """Before a pend is cancelled: no host may claim it from now on. A claim taking it at this
    moment is waited for (at most `wait` seconds: then LockNotAvailable). "" when no host has it
    (it was withdrawn, or never made claimable), else the host that claimed it."""
    async with db.transaction():
        await db.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(wait * 1000)}ms",))
        await db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_RUN_LOCK, run_id))
        await db.execute("DELETE FROM pends WHERE run_id = %s", (run_id,))
        cur = await db.execute("SELECT host_id FROM placements WHERE run_id = %s", (run_id,))
        row = await cur.fetchone()
    return str(row[0]) if row else ""


async def pending_reasons(db: Conn) -> dict[str, str]:
    """Why each pend of the cluster still waits (never empty)."""
    cur = await db.execute("SELECT run_id, reason FROM pends")
    return {run_id: reason for run_id, reason in await cur.fetchall()}


# the live hosts, least busy first (then by id), with their tags and max-runs: read once a claim,
# each pend's fitting hosts are picked from them (`_fits`)
_LIVE = """
SELECT h.host_id, h.tags, h.max_runs, n.busy FROM hosts h
CROSS JOIN LATERAL (SELECT count(*) AS busy FROM placements p
                    WHERE p.host_id = h.host_id AND p.state = 'running') n
WHERE h.lease_until > now()
ORDER BY n.busy, h.host_id
"""
Live = list[tuple[str, list[str], int, int]]  # host, tags, max-runs, running runs


async def claim(db: Conn, host: str, limit: int = 16) -> list[str]:
    """The pends `host` takes now, oldest first: each one whose resource tags are free, whose tags
    it has, and for which it is among the least busy live hosts with room. In one transaction each taken
    run is placed on `host`, its resource tags reserved (one row per tag: a tag held by another run
    refuses the claim, so two runs never hold one tag), its pend deleted and every host told
    (`claimed RUN HOST` on the wake channel). Only a pend the host takes is locked (FOR UPDATE
    SKIP LOCKED: a pend another host is taking is skipped, so a run is never claimed twice); a pend
    it leaves is only read, and its reason written at the end where no other claim holds it, so a
    busier host's claim never keeps the least busy one from taking a pend. Two claims that
    deadlock on reservations: the one the database aborts takes nothing this time (its host
    claims again on the next wake-up)."""
    try:
        return (await _claim(db, host, limit, False))[0]
    except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
        return []


async def claim_and_reasons(db: Conn, host: str, limit: int = 16) -> tuple[list[str], dict[str, str]]:
    """`claim`, and why each pend left in the cluster still waits (`pending_reasons`), read in the
    claim's own transaction: a failure after the claim committed cannot lose what it took."""
    try:
        return await _claim(db, host, limit, True)
    except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
        return [], await pending_reasons(db)  # it took nothing


async def _claim(db: Conn, host: str, limit: int, read: bool) -> tuple[list[str], dict[str, str]]:
    """What `claim` takes and (`read`) every pend's reason left, read before the commit. The
    statements that need no answer before the next are sent together (pipeline mode), and the
    transaction is begun and committed by hand to go with them: its start, the lease, the pends
    and the live hosts in one round trip; per pend taken its lock and its placement; at the end
    the taken pends deleted, the wake-ups, the reasons, what is left and the commit in one (the
    reasons' row locks, which a claim taking such a pend skips, are held for no longer)."""
    taken: list[str] = []
    reasons: dict[str, str] = {}  # why each pend looked at and left still waits
    notes: list[str] = []  # the wake-ups, sent in this order at the end (delivered on commit)
    try:
        async with db.pipeline():
            await db.execute("BEGIN")
            # one claim of a host at a time; NO KEY: the fence of the host's store writes (FOR KEY
            # SHARE, floe/store/postgres.py) never waits for a claim that waits on a busy pend or tag
            mine = await db.execute(
                "SELECT max_runs, lease_until > now() FROM hosts WHERE host_id = %s FOR NO KEY UPDATE",
                (host,),
            )
            pends = await db.execute(
                "SELECT run_id, flow, host_tags, resource_tags, pinned, workspace_of FROM pends"
                " ORDER BY created, run_id LIMIT %s",
                (limit * 4,),
            )
            live = await db.execute(_LIVE)
            me = await mine.fetchone()
            rows = await pends.fetchall()
            hosts: Live = [(h, tags, max_runs, busy) for h, tags, max_runs, busy in await live.fetchall()]
        if me is None or not me[1]:
            rows = []  # no lease: this host claims nothing
        for run_id, flow, host_tags, resource_tags, pinned, of in rows:
            if len(taken) >= limit:
                break
            fits = _fits(hosts, host, len(taken), host_tags, pinned)
            why = await _why_not(db, host, hosts, fits, notes, run_id, host_tags, resource_tags, pinned, of)
            if why:
                reasons[run_id] = why
                continue
            if not await _lock(db, run_id):
                continue  # another host is taking it, or took it since it was read
            held = await _reserve(db, run_id, flow, host, resource_tags)
            if held:
                reasons[run_id] = held
                continue
            notes.append(f"claimed {run_id} {host}")
            taken.append(run_id)
        async with db.pipeline():
            if taken:
                await db.execute("DELETE FROM pends WHERE run_id = ANY(%s)", (taken,))
            if notes:
                await db.execute(
                    "SELECT pg_notify(%s, n) FROM unnest(%s::text[]) WITH ORDINALITY AS t(n, i) ORDER BY i",
                    (WAKE, notes),
                )
            await _set_reasons(db, reasons)
            left = await db.execute("SELECT run_id, reason FROM pends") if read else None
            await db.execute("COMMIT")
            return taken, {run_id: why for run_id, why in await left.fetchall()} if left else {}
    except BaseException:
        if db.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            with contextlib.suppress(psycopg.Error):  # a broken connection: the pool drops it
                await db.execute("ROLLBACK")
        raise


def _fits(hosts: Live, host: str, took: int, host_tags: list[str], pinned: str) -> list[tuple[str, int]]:
    """The live hosts whose tags fit a pend and that have room, least busy first (then by id), with
    how busy each is; `host` has taken `took` runs more in this claim. A pinned pend (to `pinned`,
    "" when none) fits its pinned host only."""
    fits = [
        (h, busy + (took if h == host else 0), max_runs)
        for h, tags, max_runs, busy in hosts
        if set(host_tags) <= set(tags) and (not pinned or h == pinned)
    ]
    fits.sort(key=lambda f: f[1])  # stable: ties stay in the database's order of ids
    return [(h, busy) for h, busy, max_runs in fits if max_runs == 0 or busy < max_runs]


async def _why_not(
    db: Conn,
    host: str,
    hosts: Live,
    fits: list[tuple[str, int]],
    notes: list[str],
    run_id: str,
    host_tags: list[str],
    resource_tags: list[str],
    pinned: str,
    of: str,
) -> str:
    """Why `host` does not take the pend now ("" when it may), given the hosts that `fits` it; a
    less busy host is woken (on commit: `notes`). A pinned pend (to `pinned`, "" when none: it holds
    the workspace of run `of`) fits its pinned host only (while its lease is live)."""
    held = await _held(db, resource_tags)
    if held:
        return held
    if not fits and pinned:
        return f"waiting for {pinned} (it holds the workspace of {of})"
    if not fits:
        return _no_host_reason(hosts, host_tags)
    if (host, fits[0][1]) not in fits:  # another host is less busy
        notes.append(f"offer {run_id} {fits[0][0]}")
        if pinned:
            return f"waiting for {pinned} (it holds the workspace of {of})"
        return f"offered to {fits[0][0]}, the least busy host that fits"
    return ""


async def _lock(db: Conn, run_id: str) -> bool:
    """Lock the pend to take it; False when another claim (or add_pend) holds it or it is gone.
    The run's advisory lock is tried first (the same key for any row the scan looks at), so the
    pend's row is locked only when that lock is had."""
    cur = await db.execute(
        "SELECT 1 FROM pends WHERE run_id = %s AND pg_try_advisory_xact_lock(%s, hashtext(%s))"
        " FOR UPDATE SKIP LOCKED",
        (run_id, _RUN_LOCK, run_id),
    )
    return await cur.fetchone() is not None


async def _held(db: Conn, tags: list[str]) -> str:
    """Which of the tags another run holds ("" when none)."""
    if not tags:
        return ""
    cur = await db.execute(
        "SELECT tag, run_id FROM reservations WHERE tag = ANY(%s) ORDER BY tag LIMIT 1", (tags,)
    )
    row = await cur.fetchone()
    return f"resource {row[0]} held by run {row[1]}" if row else ""


def _no_host_reason(hosts: Live, host_tags: list[str]) -> str:
    if any(set(host_tags) <= set(tags) for _, tags, _, _ in hosts):
        return "every host that fits is at its max-runs"
    return f"no host with tags {','.join(host_tags)}" if host_tags else "no live host"


async def _set_reasons(db: Conn, reasons: dict[str, str]) -> None:
    """Keep why each pend waits, where it changed and no other claim holds the pend (that claim
    writes its own reason); wake the hosts for each changed one (its own host keeps the reason)."""
    if not reasons:
        return
    await db.execute(
        "WITH v(run_id, reason) AS (SELECT * FROM unnest(%s::text[], %s::text[])),"
        " free AS (SELECT p.run_id FROM pends p JOIN v USING (run_id) WHERE p.reason <> v.reason"
        " ORDER BY p.run_id FOR UPDATE OF p SKIP LOCKED),"
        " changed AS (UPDATE pends p SET reason = v.reason FROM v JOIN free USING (run_id)"
        " WHERE p.run_id = v.run_id RETURNING p.run_id)"
        " SELECT pg_notify(%s, 'reason ' || run_id) FROM changed ORDER BY run_id",
        (list(reasons), list(reasons.values()), WAKE),
    )


async def _reserve(db: Conn, run_id: str, flow: str, host: str, tags: list[str]) -> str:
    """Place the run on `host` with its resource tags reserved; "" when done, else why not (and
    nothing changed: the placement and reservations are undone by the savepoint, which a run
    without resource tags needs not: its placement is one statement)."""
    if not tags:
        cur = await db.execute(
            "INSERT INTO placements(run_id, host_id, flow, state) VALUES(%s, %s, %s, 'running')"
            " ON CONFLICT DO NOTHING RETURNING run_id",
            (run_id, host, flow),
        )
        return "" if await cur.fetchone() is not None else "its resource tags are held"
    try:
        async with db.transaction():  # a savepoint
            await db.execute(
                "INSERT INTO placements(run_id, host_id, flow, state) VALUES(%s, %s, %s, 'running')",
                (run_id, host, flow),
            )
            for tag in sorted(tags):  # one order everywhere: claims never deadlock on tags
                await db.execute("INSERT INTO reservations(tag, run_id) VALUES(%s, %s)", (tag, run_id))
    except psycopg.errors.UniqueViolation:  # taken by a claim that committed meanwhile
        return await _held(db, tags) or "its resource tags are held"
    return ""


async def running(db: Conn, run_id: str, node: str) -> None:
    """Note the node a placed run is running (named when its host is lost)."""
    await db.execute("UPDATE placements SET state = 'running', node = %s WHERE run_id = %s", (node, run_id))


async def waiting_on_gate(db: Conn, run_id: str, node: str) -> None:
    """The run waits on a data gate: it no longer counts against its host's max-runs."""
    await db.execute("UPDATE placements SET state = 'gate', node = %s WHERE run_id = %s", (node, run_id))


async def release(db: Conn, run_id: str) -> None:
    """The run ended: its placement and resource tags are freed, and every host woken."""
    async with db.transaction():
        await db.execute("DELETE FROM placements WHERE run_id = %s", (run_id,))
        await db.execute("SELECT pg_notify(%s, %s)", (WAKE, f"ended {run_id}"))


async def take_over(db: Conn, host: str) -> Takeover:
    """If `host` holds a live lease: take over every host whose lease expired. Their runs waiting on
    a data gate are moved to `host` (and keep waiting); their running runs are returned (with
    their placements and reservations freed) for `host` to end (floe/hub/takeover.py), with the
    dead hosts' ids (their active runs the hub never placed are resolved from the store); their lease rows
    are removed. Pends need no move: any live host claims them. A host being taken over by another
    one at the same moment is skipped (SKIP LOCKED)."""
    async with db.transaction():
        cur = await db.execute("SELECT 1 FROM hosts WHERE host_id = %s AND lease_until > now()", (host,))
        if await cur.fetchone() is None:
            return Takeover()
        cur = await db.execute(
            "SELECT host_id FROM hosts WHERE lease_until <= now() ORDER BY host_id FOR UPDATE SKIP LOCKED"
        )
        dead = [h for (h,) in await cur.fetchall()]
        if not dead:
            return Takeover()
        cur = await db.execute(
            "SELECT run_id, flow, host_id, state, node FROM placements WHERE host_id = ANY(%s)"
            " ORDER BY run_id FOR UPDATE",
            (dead,),
        )
        lost = [Lost(*row) for row in await cur.fetchall()]
        await db.execute(
            "UPDATE placements SET host_id = %s WHERE host_id = ANY(%s) AND state = 'gate'", (host, dead)
        )
        await db.execute("DELETE FROM placements WHERE host_id = ANY(%s) AND state = 'running'", (dead,))
        await db.execute("DELETE FROM hosts WHERE host_id = ANY(%s)", (dead,))
        await db.execute("SELECT pg_notify(%s, %s)", (WAKE, f"taken over {','.join(dead)}"))
    return Takeover(tuple(dead), tuple(lost))


async def listen(db: Conn) -> None:
    """Subscribe `db` (a connection of its own) to the wake channel; then iterate `wake_ups(db)`."""
    await db.execute(f"LISTEN {WAKE}".encode())


async def wake_ups(db: Conn) -> AsyncIterator[str]:
    """The payloads of NOTIFY on the wake channel, as they come, once `listen(db)` returned."""
    async for note in db.notifies():
        yield note.payload
