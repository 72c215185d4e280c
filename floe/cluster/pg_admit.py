"""Admission policies across a PostgreSQL cluster: one transaction per trigger, under a lock per
flow, counts the flow's live runs in the whole cluster, refills its token buckets (rows) with the
pure arithmetic of floe/model/policy.py, and keeps the admission.

A flow's live runs are its pending and active rows in `runs`, plus the admissions whose run is not
stored yet (the host that admitted it stores its pend a moment later). One statement reads both,
so a pend stored meanwhile counts once. An admission is dropped (under the flow's lock) once its
run is stored, and so is one whose host's lease is gone or was taken anew since (that host died
before storing the pend: it never will). A run that ends, however (an end, a cancel, a takeover),
frees its place by its row leaving the pending and active phases: nothing else to free."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from floe.cluster.pg import Conn
from floe.model.flow import Flow
from floe.model.policy import Bucket, Rejection, admit
from floe.store.errors import StoreError

_FLOW_LOCK = 0x666C61  # advisory locks (this key, hashtext(flow id)): one admission of a flow at a time

_STORED = "EXISTS (SELECT 1 FROM runs r WHERE r.run_id = a.run_id)"
# the very lease of the host that admitted it (not a new one: it was taken over meanwhile)
_SAME_HOST = "EXISTS (SELECT 1 FROM hosts h WHERE h.host_id = a.host_id AND h.started <= a.at)"
_DROP = f"DELETE FROM admissions a WHERE a.flow = %s AND ({_STORED} OR NOT {_SAME_HOST})"
_LIVE = (
    "SELECT (SELECT count(*) FROM runs WHERE flow = %s AND phase IN ('pending', 'active'))"
    f" + (SELECT count(*) FROM admissions a WHERE a.flow = %s AND NOT {_STORED} AND {_SAME_HOST}),"
    " extract(epoch FROM clock_timestamp())::float8"
)
_PUT_BUCKET = (
    "INSERT INTO buckets(flow, policy, tokens, at) VALUES(%s, %s, %s, %s)"
    " ON CONFLICT(flow, policy) DO UPDATE SET tokens = excluded.tokens, at = excluded.at"
)


async def admit_run(
    db: Conn, host: str, run_id: str, flow: Flow, trigger: str, values: Mapping[str, Any]
) -> Rejection | None:
    """Admit run `run_id` of `flow` (from `trigger` with `values`) for `host`, or say which policy
    refuses it; an admission is kept when this returns None. StoreError when `host` holds no lease
    (its admissions would not count)."""
    async with db.transaction():
        await db.execute("SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (_FLOW_LOCK, flow.id))
        cur = await db.execute("SELECT 1 FROM hosts WHERE host_id = %s AND lease_until > now()", (host,))
        if await cur.fetchone() is None:
            raise StoreError(f"host {host} holds no lease in the cluster now: try again")
        await db.execute(_DROP, (flow.id,))
        cur = await db.execute(_LIVE, (flow.id, flow.id))
        row = await cur.fetchone()
        assert row is not None  # one row of scalars
        live, now = int(row[0]), float(row[1])
        cur = await db.execute("SELECT policy, tokens, at FROM buckets WHERE flow = %s", (flow.id,))
        buckets = {str(p): Bucket(float(t), float(at)) for p, t, at in await cur.fetchall()}
        rejection, taken = admit(flow, trigger, values, live, buckets, now)
        if rejection is not None:
            return rejection
        await db.execute(
            "INSERT INTO admissions(run_id, flow, host_id, at) VALUES(%s, %s, %s, now())"
            " ON CONFLICT(run_id) DO NOTHING",
            (run_id, flow.id, host),
        )
        for name, bucket in sorted(taken.items()):
            await db.execute(_PUT_BUCKET, (flow.id, name, bucket.tokens, bucket.at))
    return None


async def forget(db: Conn, run_id: str) -> None:
    """Drop the admission of a run that was not made (its admission's answer was lost)."""
    await db.execute("DELETE FROM admissions WHERE run_id = %s", (run_id,))


async def forget_unstored(db: Conn, host: str) -> None:
    """At a host's start: drop its admissions whose run was never stored (its last process died
    between the two); their lease row may be the same one, renewed by this process."""
    await db.execute(f"DELETE FROM admissions a WHERE host_id = %s AND NOT {_STORED}", (host,))
