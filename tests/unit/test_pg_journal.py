"""The PostgreSQL store's journal on the host: lines read back as written, a torn last line left out."""

from __future__ import annotations

from pathlib import Path

from floe.store.pg_journal import Journal, rows
from floe.store.rows import EventRow, RunRow


def test_lines_read_back_in_order_and_a_torn_last_line_is_left_out(tmp_path: Path) -> None:
    j = Journal(tmp_path / "store" / "pg-journal.jsonl")
    assert j.read() == []
    run, event = RunRow("h1-1", "f", "active", 1.0, "{}"), EventRow("h1-1", 1, "n", "t", '{"a":"é"}')
    j.append([run], [event], {"counter/h1": "3"}, set())
    j.append([], [], {}, {"h1-0"})
    with j.path.open("a") as f:
        f.write('{"runs": [["h1-2"')  # a kill in the middle of a line
    first, second = j.read()
    assert rows(first) == ([run], [event], {"counter/h1": "3"}, set())
    assert rows(second) == ([], [], {}, {"h1-0"})
    j.clear()
    assert not j.path.exists() and j.read() == []
