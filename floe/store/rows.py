"""The rows the store backends keep: run and event documents as compact JSON, with their key columns."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from floe.store.base import Doc, Handed
from floe.store.errors import DamagedRecord

PHASES = ("pending", "active", "archive", "moved")  # moved: handed to another host
NODE_UPDATE = "sys.node.update"


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)
_ASCII = json.JSONEncoder(separators=(",", ":"))
_ANYWAY = json.JSONEncoder(separators=(",", ":"), default=repr)  # a handed document, encoded late


def encode(value: Any) -> str:
    """Compact JSON; non-ASCII kept as is unless it cannot be stored as UTF-8 (lone surrogates)."""
    text = _COMPACT.encode(value)
    if text.isascii():  # a constant-time flag of the string: ASCII is always valid UTF-8
        return text
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
    """Check the keys every run document has and encode it (a snapshot: later edits are not seen),
    or, for a `Handed` document, a row that encodes it when first read (`Later`)."""
    run_id, flow, phase, created = doc.get("run_id"), doc.get("flow"), doc.get("phase"), doc.get("created")
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"run document needs a non-empty string run_id, got {run_id!r}")
    if not isinstance(flow, str):
        raise ValueError(f"run {run_id}: flow must be a string, got {flow!r}")
    if phase not in PHASES:
        raise ValueError(f"run {run_id}: phase must be one of {', '.join(PHASES)}, got {phase!r}")
    if isinstance(created, bool) or not isinstance(created, int | float):
        raise ValueError(f"run {run_id}: created must be a number, got {created!r}")
    if type(doc) is Handed:
        return LaterRunRow(run_id, flow, str(phase), float(created), doc)
    return RunRow(run_id, flow, str(phase), float(created), encode(doc))


def event_row(event: Doc, node: str | None = None) -> EventRow:
    """Check the keys every event has and encode it; `node` keys the row instead of its source node."""
    run_id, seq, tag = event.get("run_id"), event.get("seq"), event.get("tag")
    node = (event.get("source_node") or "") if node is None else node
    if not isinstance(run_id, str) or not run_id:
        raise ValueError(f"event needs a non-empty string run_id, got {run_id!r}")
    if isinstance(seq, bool) or not isinstance(seq, int):
        raise ValueError(f"event of run {run_id}: seq must be an integer, got {seq!r}")
    if not isinstance(tag, str) or not tag:
        raise ValueError(f"event of run {run_id}: tag must be a non-empty string, got {tag!r}")
    if not isinstance(node, str):
        raise ValueError(f"event of run {run_id}: source_node must be a string, got {node!r}")
    if type(event) is Handed:
        return LaterEventRow(run_id, seq, node, tag, event)
    return EventRow(run_id, seq, node, tag, encode(event))


class Later:
    """A row's JSON encoded when first read: by the store's writer thread as it commits (or a read
    of the buffer), not on the thread that handed the document over. A value JSON has no form for
    is kept as its `repr` (a write that could never be encoded must not stop the writer)."""

    __slots__ = ()
    _value: Doc | None
    _text: str

    @property
    def doc(self) -> str:
        value = self._value  # read once: two threads may encode it, alike
        if value is None:
            return self._text
        try:
            text = encode(value)
        except (TypeError, ValueError):
            text = _ANYWAY.encode(value)
        object.__setattr__(self, "_text", text)
        object.__setattr__(self, "_value", None)
        return text


class LaterRunRow(Later, RunRow):
    """A RunRow of a `Handed` document, encoded when first read."""

    __slots__ = ("_text", "_value")

    def __init__(self, run_id: str, flow: str, phase: str, created: float, doc: Doc) -> None:
        for name, value in (("run_id", run_id), ("flow", flow), ("phase", phase), ("created", created)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_value", doc)
        object.__setattr__(self, "_text", "")


class LaterEventRow(Later, EventRow):
    """An EventRow of a `Handed` event, encoded when first read."""

    __slots__ = ("_text", "_value")

    def __init__(self, run_id: str, seq: int, node: str, tag: str, doc: Doc) -> None:
        for name, value in (("run_id", run_id), ("seq", seq), ("node", node), ("tag", tag)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_value", doc)
        object.__setattr__(self, "_text", "")


def log_lines(event_doc: str) -> list[str]:
    """The output lines a `sys.node.update` event carries: its `lines` (a batch), or the one `line`
    of an event stored before batches; [] for an update that is no output."""
    opts = decode(event_doc).get("opts")
    if not isinstance(opts, dict):
        return []
    lines, line = opts.get("lines"), opts.get("line")
    if isinstance(lines, list):
        return [x for x in lines if isinstance(x, str)]
    return [line] if isinstance(line, str) else []


def stored_doc(run_id: str, text: str) -> Doc:
    """A stored document of run `run_id`; DamagedRecord when it is not a JSON object."""
    try:
        doc = decode(text)
    except ValueError as e:
        raise DamagedRecord(run_id, f"not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise DamagedRecord(run_id, "not a JSON object")
    return doc
