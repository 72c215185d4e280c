"""What a PostgreSQL batch tells the cluster about its events: NOTIFY payloads naming, per run, the
range of seqs it stored (the rows are read by the listeners), each under PostgreSQL's 8000 bytes."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

CHANNEL = "floe_events"
LIMIT = 7900  # bytes of one payload (PostgreSQL refuses 8000 or more)


@dataclass(frozen=True, slots=True)
class Stored:
    """Events of `run_id` with seqs `first` to `last` were committed by `host`."""

    host: str
    run_id: str
    first: int
    last: int


def payloads(host: str, ranges: Iterable[tuple[str, int, int]]) -> list[str]:
    """The payloads telling that `host` stored each (run id, first seq, last seq), as few as fit."""
    out: list[str] = []
    part: list[tuple[str, int, int]] = []
    for r in ranges:
        if part and len(_encode(host, [*part, r]).encode()) > LIMIT:
            out.append(_encode(host, part))
            part = []
        part.append(r)
        if len(_encode(host, part).encode()) > LIMIT:
            raise ValueError(f"run id {r[0][:40]!r}… does not fit in a notification")
    if part:
        out.append(_encode(host, part))
    return out


def parse(payload: str) -> list[Stored]:
    """The ranges a payload names; none for one that is not floe's."""
    try:
        doc = json.loads(payload)
        return [Stored(str(doc["h"]), str(r), int(a), int(b)) for r, a, b in doc["r"]]
    except (ValueError, KeyError, TypeError):
        return []


def _encode(host: str, ranges: list[tuple[str, int, int]]) -> str:
    return json.dumps({"h": host, "r": ranges}, separators=(",", ":"), ensure_ascii=False)
