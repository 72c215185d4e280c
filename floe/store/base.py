"""The RunStore protocol every backend implements.

Writes are enqueued without blocking (the hub is never held up by IO) and made durable in
batches; `flush()` returns once everything enqueued before it is durable. Reads see every write
enqueued before them.

A run is stored as a JSON document (`dict`) with at least the keys `run_id`, `flow`, `phase`
(`pending` | `active` | `archive`, or `moved` on the host that adopted a run another host
executes) and `created` (float, the paging order). Events are appended per
run with their `seq`; a node's log is the `opts["lines"]` of its `sys.node.update` events (each a
batch of lines, in order; an event stored before batches carries one `opts["line"]`).
"""

from __future__ import annotations

from typing import Any, Protocol

Doc = dict[str, Any]


class Handed(dict[str, Any]):
    """A document handed over for good: its giver never changes it (nor what it holds) again, so a
    store may encode it later, off the caller's thread (the local store's writer does). Any other
    document is a snapshot taken at the call: later edits are not seen."""


class RunStore(Protocol):
    async def open(self) -> None:
        """Create or open the store; safe to call on an existing store."""

    async def close(self) -> None:
        """Flush and release resources."""

    def put_run(self, doc: Doc) -> None:
        """Insert or replace the run document keyed by `doc["run_id"]` (as it is now, unless `Handed`)."""

    def append_event(self, event: Doc) -> None:
        """Append one event (`Event.to_json()` form: `run_id`, `seq`, `source_node`, `tag`, `opts`),
        as it is now, unless `Handed`."""

    def put_kv(self, key: str, value: Any) -> None:
        """Set a small JSON value (counters, trigger state, sessions)."""

    async def flush(self) -> None:
        """Return once every write enqueued before this call is durable."""

    async def get_run(self, run_id: str) -> Doc | None: ...

    async def list_runs(
        self, *, phase: str, flow: str | None = None, limit: int | None = None, before: float | None = None
    ) -> list[Doc]:
        """Runs in `phase`, newest `created` first, optionally of one flow and older than `before`."""

    async def events(self, run_id: str, after_seq: int = 0) -> list[Doc]:
        """The run's events with `seq > after_seq`, in order."""

    async def node_log(self, run_id: str, node_id: str) -> list[str]:
        """The node's output lines, in order."""

    async def get_kv(self, key: str) -> Any | None: ...

    async def delete_run(self, run_id: str) -> None:
        """Delete the run's document, events and log (retention); durable on return. A run not
        stored is no error."""
