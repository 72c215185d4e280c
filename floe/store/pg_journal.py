"""The PostgreSQL store's write-ahead file on the host: writes the database could not take, kept
durably until it takes them (an outage survives a `kill -9` of the host), replayed at open."""

from __future__ import annotations

import json
import os
from dataclasses import astuple
from pathlib import Path
from typing import Any

from floe.store.rows import EventRow, RunRow


class Journal:
    """Append-only lines at `path`, one a failed batch's writes (runs, events, keys, deletes)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(
        self, runs: list[RunRow], events: list[EventRow], kv: dict[str, str], deletes: set[str]
    ) -> None:
        """Add one line and fsync it."""
        line = json.dumps(
            {
                "runs": [astuple(r) for r in runs],
                "events": [astuple(e) for e in events],
                "kv": kv,
                "deletes": sorted(deletes),
            },
            separators=(",", ":"),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())

    def read(self) -> list[dict[str, Any]]:
        """The lines kept, oldest first; a last line cut short by a kill is left out."""
        if not self.path.exists():
            return []
        out: list[dict[str, Any]] = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                break
        return out

    def clear(self) -> None:
        """Everything kept has been committed."""
        self.path.unlink(missing_ok=True)


def rows(line: dict[str, Any]) -> tuple[list[RunRow], list[EventRow], dict[str, str], set[str]]:
    """A line's writes as rows again."""
    return (
        [RunRow(*r) for r in line["runs"]],
        [EventRow(*e) for e in line["events"]],
        dict(line["kv"]),
        set(line["deletes"]),
    )
