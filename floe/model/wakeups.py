"""What a host does with a wake-up of the PostgreSQL cluster's database (a NOTIFY payload)."""

from __future__ import annotations

import json
from collections.abc import Set

from floe.model.messages import ClaimedBy, Wake


def on_wake_up(payload: str, me: str, tags: Set[str] = frozenset()) -> ClaimedBy | Wake | None:
    """The message a wake-up posts to host `me` (with host tags `tags`), or None when it gives `me`
    nothing to claim.

    `claimed RUN HOST`: that host runs it (the pend's own host drops its copy). `offer RUN HOST`
    (a claim stepped aside for the least busy host) wakes that host only, and `reason RUN` (a
    pend's reason changed) only the host that made the pend, which keeps the reason: neither
    frees a slot or a resource tag for anyone else, and each claim they caused on every host
    woke every host again. `pend RUN HOST TAGS` (HOST made it claimable; TAGS, a JSON list, the
    host tags it needs) wakes HOST, which writes its reason, and the hosts with those tags: no
    other host may take it. Anything else (`ended`, `left`, `taken over`, `listening`) may let
    any host take a pend: a claim."""
    what, _, rest = payload.partition(" ")
    run_id, _, host = rest.partition(" ")
    if what == "claimed":
        return ClaimedBy(run_id, host)
    if what == "offer":
        return Wake() if host == me else None
    if what == "reason":
        return Wake() if run_id.rpartition("-")[0] == me else None
    if what == "pend" and host:
        host, _, needs = host.partition(" ")
        try:
            needed = json.loads(needs) if needs else []
        except ValueError:
            return Wake()  # a payload it cannot read: claim, as for any pend
        if host != me and isinstance(needed, list) and not set(map(str, needed)) <= tags:
            return None
    return Wake()
