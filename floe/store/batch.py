"""A batch of writes not yet committed: what the write-behind of the local and PostgreSQL stores holds."""

from __future__ import annotations

from dataclasses import dataclass, field

from floe.store.rows import EventRow, RunRow


@dataclass(slots=True)
class Batch:
    """Writes not yet committed; repeated puts of one run or key coalesce (last wins). Deleted
    runs are deleted before the batch's puts, which all came after their deletes."""

    runs: dict[str, RunRow] = field(default_factory=dict)
    events: dict[str, list[EventRow]] = field(default_factory=dict)
    kv: dict[str, str] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)
    upto: int = 0  # ticket of the last write enqueued into it
    journaled: bool = False  # the PostgreSQL store's journal holds its writes (floe/store/pg_journal.py)

    def absorb(self, newer: Batch) -> None:
        """Take in the writes of a batch enqueued after this one, as if they had come in here."""
        for run_id in newer.deletes:
            self.runs.pop(run_id, None)
            self.events.pop(run_id, None)
        self.deletes |= newer.deletes
        self.runs.update(newer.runs)
        for run_id, es in newer.events.items():
            self.events.setdefault(run_id, []).extend(es)
        self.kv.update(newer.kv)
        self.upto = max(self.upto, newer.upto)

    def __len__(self) -> int:
        """Records held, after coalescing."""
        return len(self.runs) + sum(map(len, self.events.values())) + len(self.kv) + len(self.deletes)

    def __bool__(self) -> bool:
        return bool(self.runs or self.events or self.kv or self.deletes)


def buffered_runs(batches: list[Batch]) -> tuple[dict[str, RunRow], set[str]]:
    """What uncommitted `batches` (oldest first) change in the stored runs: the last put of each
    run not deleted after it, and every run id deleted."""
    runs: dict[str, RunRow] = {}
    deleted: set[str] = set()
    for b in batches:
        for run_id in b.deletes:
            runs.pop(run_id, None)
        deleted |= b.deletes
        runs.update(b.runs)
    return runs, deleted
