"""Compact JSON encoding and the key columns of run and event documents, shared by the backends."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from floe.store.base import Doc

PHASES = ("pending", "active", "archive", "moved")  # moved: handed to another host
NODE_UPDATE = "sys.node.update"


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ASCII = json.JSONEncoder(separators=(",", ":"))


def encode(value: Any) -> str:
    """Compact JSON; non-ASCII kept as is unless it cannot be stored as UTF-8 (lone surrogates)."""
    text = _COMPACT.encode(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = _ASCII.encode(value)
    return text


def decode(text: str) -> Any:
    return json.loads(text)


@dataclass(frozen=True, slots=True)
class RunRow:
    """A run document, encoded, with the columns it is indexed by."""

    run_id: str
    flow: str
    phase: str
    created: float
    doc: str


@dataclass(frozen=True, slots=True)
class EventRow:
    """An event, encoded, with the columns it is keyed by."""

    run_id: str
    seq: int
    node: str
    tag: str
    doc: str


def run_row(doc: Doc) -> RunRow:
    """Check the keys every run document has and encode it (a snapshot: later edits are not seen)."""
    run_id, flow, phase, created = doc.get("run_id"), doc.get("flow"), doc.get("phase"), doc.get("created")
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"run document needs a non-empty string run_id, got {run_id!r}")
    if not isinstance(flow, str):
        raise ValueError(f"run {run_id}: flow must be a string, got {flow!r}")
    if phase not in PHASES:
        raise ValueError(f"run {run_id}: phase must be one of {', '.join(PHASES)}, got {phase!r}")
    if isinstance(created, bool) or not isinstance(created, int | float):
        raise ValueError(f"run {run_id}: created must be a number, got {created!r}")
    return RunRow(run_id, flow, str(phase), float(created), encode(doc))


def event_row(event: Doc) -> EventRow:
    """Check the keys every event has and encode it."""
    run_id, seq, tag = event.get("run_id"), event.get("seq"), event.get("tag")
    node = event.get("source_node") or ""
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"event needs a non-empty string run_id, got {run_id!r}")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise ValueError(f"event of run {run_id}: seq must be an integer, got {seq!r}")
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"event of run {run_id}: tag must be a non-empty string, got {tag!r}")
    if not isinstance(node, str):
        raise ValueError(f"event of run {run_id}: source_node must be a string, got {node!r}")
    return EventRow(run_id, seq, node, tag, encode(event))


def log_line(event_doc: str) -> str | None:
    """The output line a `sys.node.update` event carries, if any."""
    opts = decode(event_doc).get("opts")
    line = opts.get("line") if isinstance(opts, dict) else None
    return line if isinstance(line, str) else None
