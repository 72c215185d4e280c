"""Object keys and bodies of the S3 archive: newest-first run listings, the run index, gzipped event logs."""

from __future__ import annotations

import contextlib
import gzip
import struct
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from floe.store.base import Doc
from floe.store.rows import EventRow, decode, encode, event_row

FORMAT = 1  # the "v" of index and log objects; a newer one is not read
_MASK = (1 << 64) - 1
_SIGN = 1 << 63
_SORT_LEN = 16


def normalize_prefix(prefix: str) -> str:
    """`""` stays empty; anything else loses leading slashes and ends with exactly one `/`."""
    prefix = prefix.strip().lstrip("/")
    return prefix.rstrip("/") + "/" if prefix else ""


def created_key(created: float) -> str:
    """16 hex digits that sort lexicographically newest-first and map back to exactly `created`.

    The float's IEEE-754 bits are made order-preserving (flip all bits of negatives, set the sign bit
    of the rest), then inverted, so a key never loses precision: `before` paging is exact even for
    runs created within the same millisecond."""
    (bits,) = struct.unpack(">Q", struct.pack(">d", float(created)))
    bits = bits ^ _MASK if bits & _SIGN else bits | _SIGN
    return f"{_MASK - bits:0{_SORT_LEN}x}"


def created_from_key(text: str) -> float:
    bits = _MASK - int(text, 16)
    bits = bits & ~_SIGN if bits & _SIGN else bits ^ _MASK
    (value,) = struct.unpack(">d", struct.pack(">Q", bits))
    return float(value)


def _part(text: str) -> str:
    return quote(text, safe="")


def runs_dir(prefix: str, flow: str | None) -> str:
    """The folder of one flow's archive listing, or of all flows' folders when `flow` is None."""
    return f"{prefix}runs/" if flow is None else f"{prefix}runs/{_part(flow)}/"


def run_key(prefix: str, flow: str, created: float, run_id: str) -> str:
    """`<prefix>runs/<flow>/<created-key>-<run_id>.json`: the run document."""
    return f"{runs_dir(prefix, flow)}{created_key(created)}-{_part(run_id)}.json"


def start_after(folder: str, before: float) -> str:
    """`StartAfter` in `folder` for runs created strictly before `before` (`.` sorts after `-`)."""
    return f"{folder}{created_key(before)}."


def index_key(prefix: str, run_id: str) -> str:
    """`<prefix>index/<run_id>.json`: `{"v", "key", "run"}`, so any host finds a run by its id."""
    return f"{prefix}index/{_part(run_id)}.json"


def logs_key(prefix: str, run_id: str) -> str:
    """`<prefix>logs/<run_id>.json.gz`: `{"v", "run_id", "events"}`, gzipped."""
    return f"{prefix}logs/{_part(run_id)}.json.gz"


@dataclass(frozen=True, slots=True)
class Listed:
    """One archived run as a listing names it, without fetching it."""

    created: float
    run_id: str
    key: str


def parse_run_key(key: str, folder: str) -> Listed | None:
    """The run a key of `folder` names; None for a key that is not one of ours."""
    if not key.startswith(folder) or not key.endswith(".json"):
        return None
    name = key[len(folder) : -len(".json")]
    if len(name) <= _SORT_LEN + 1 or name[_SORT_LEN] != "-" or "/" in name:
        return None
    try:
        created = created_from_key(name[:_SORT_LEN])
    except ValueError:
        return None
    return Listed(created, unquote(name[_SORT_LEN + 1 :]), key)


def run_body(doc: Doc) -> bytes:
    return encode(doc).encode()


def index_body(key: str, doc: Doc) -> bytes:
    return encode({"v": FORMAT, "key": key, "run": doc}).encode()


def logs_body(run_id: str, events: list[Doc]) -> bytes:
    return gzip.compress(encode({"v": FORMAT, "run_id": run_id, "events": events}).encode(), 6)


def _versioned(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError(f"{what}: not a JSON object")
    version = body.get("v")
    if not isinstance(version, int) or version > FORMAT:
        raise ValueError(f"{what}: format {version!r}, this floe reads {FORMAT}")
    return body


def parse_run(raw: bytes, what: str) -> Doc:
    doc = decode(raw.decode())
    if not isinstance(doc, dict) or not isinstance(doc.get("run_id"), str):
        raise ValueError(f"{what}: not a run document")
    return doc


def parse_index(raw: bytes, what: str) -> Doc:
    run = _versioned(decode(raw.decode()), what).get("run")
    if not isinstance(run, dict) or not isinstance(run.get("run_id"), str):
        raise ValueError(f"{what}: no run document")
    return run


def parse_logs(raw: bytes, what: str) -> list[EventRow]:
    """The run's events, encoded once, first of each seq, in seq order."""
    events = _versioned(decode(gzip.decompress(raw).decode()), what).get("events")
    if not isinstance(events, list):
        raise ValueError(f"{what}: no event list")
    rows: dict[int, EventRow] = {}
    for e in events:
        if isinstance(e, dict):
            with contextlib.suppress(ValueError):  # one malformed event does not hide the others
                row = event_row(e)
                rows.setdefault(row.seq, row)
    return [rows[s] for s in sorted(rows)]


def artifacts_dir(prefix: str, run_id: str, node_id: str | None = None) -> str:
    """`<prefix>artifacts/<run_id>/` (and `<node_id>/`): the files a run's (node's) tasks kept."""
    run = f"{prefix}artifacts/{_part(run_id)}/"
    return run if node_id is None else f"{run}{_part(node_id)}/"


def artifact_key(prefix: str, run_id: str, node_id: str, path: str) -> str:
    """`<prefix>artifacts/<run_id>/<node_id>/<path>`: one kept file (each path segment encoded)."""
    return artifacts_dir(prefix, run_id, node_id) + "/".join(_part(p) for p in path.split("/"))
