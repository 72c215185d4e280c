"""The NOTIFY payloads of a PostgreSQL batch's events: each under the server's limit, nothing lost."""

from __future__ import annotations

from floe.store.pg_notify import LIMIT, Stored, parse, payloads


def test_many_runs_are_told_in_payloads_under_the_limit_each_range_once() -> None:
    ranges = [(f"h1-{'x' * 60}-{i}", i, i + 10) for i in range(1000)]
    told = payloads("h1", ranges)
    assert len(told) > 1 and all(len(p.encode()) <= LIMIT < 8000 for p in told)
    assert [s for p in told for s in parse(p)] == [Stored("h1", r, a, b) for r, a, b in ranges]


def test_a_payload_that_is_not_floes_names_nothing() -> None:
    assert parse("hello") == [] and parse('{"h": "h1"}') == []
