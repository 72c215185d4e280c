"""In-memory RunStore for tests: encoded copies in dicts, never the caller's live objects."""

from __future__ import annotations

from typing import Any

from floe.store.base import Doc
from floe.store.rows import NODE_UPDATE, EventRow, RunRow, decode, encode, event_row, log_lines, run_row


class MemoryStore:
    """Every document is stored as compact JSON, so reads return fresh copies, exactly as LocalStore."""

    def __init__(self) -> None:
        self._runs: dict[str, RunRow] = {}
        self._events: dict[str, dict[int, EventRow]] = {}
        self._kv: dict[str, str] = {}

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    def put_run(self, doc: Doc) -> None:
        row = run_row(doc)
        self._runs[row.run_id] = row

    def append_event(self, event: Doc) -> None:
        row = event_row(event)
        self._events.setdefault(row.run_id, {}).setdefault(row.seq, row)

    def put_kv(self, key: str, value: Any) -> None:
        self._kv[key] = encode(value)

    async def flush(self) -> None:
        return None

    async def get_run(self, run_id: str) -> Doc | None:
        row = self._runs.get(run_id)
        return None if row is None else _doc(row.doc)

    async def list_runs(
        self, *, phase: str, flow: str | None = None, limit: int | None = None, before: float | None = None
    ) -> list[Doc]:
        rows = [
            r
            for r in self._runs.values()
            if r.phase == phase
            and (flow is None or r.flow == flow)
            and (before is None or r.created < before)
        ]
        rows.sort(key=lambda r: r.created, reverse=True)
        if limit is not None:
            rows = rows[: max(limit, 0)]
        return [_doc(r.doc) for r in rows]

    async def events(self, run_id: str, after_seq: int = 0) -> list[Doc]:
        rows = self._events.get(run_id, {})
        return [_doc(rows[s].doc) for s in sorted(rows) if s > after_seq]

    async def node_log(self, run_id: str, node_id: str) -> list[str]:
        rows = self._events.get(run_id, {})
        docs = (r.doc for s in sorted(rows) if (r := rows[s]).node == node_id and r.tag == NODE_UPDATE)
        return [line for doc in docs for line in log_lines(doc)]

    async def get_kv(self, key: str) -> Any | None:
        text = self._kv.get(key)
        return None if text is None else decode(text)

    async def delete_run(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
        self._events.pop(run_id, None)


def _doc(text: str) -> Doc:
    doc: Doc = decode(text)
    return doc
