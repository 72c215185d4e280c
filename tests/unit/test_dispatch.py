"""Placement and reservations, purely: which host takes a pend, and why a pend waits."""

from __future__ import annotations

import pytest

from floe.cluster.locks import Locks
from floe.model.dispatch import Holder, HostView, conflict, place, tags_match
from floe.model.flow import Flow
from floe.store.memory import MemoryStore


@pytest.mark.parametrize(
    ("host", "flow", "ok"),
    [
        ({"tag1", "tag2"}, set(), True),
        ({"tag1", "tag2"}, {"tag1"}, True),
        ({"tag1", "tag2"}, {"tag1", "tag2"}, True),
        ({"tag1", "tag2"}, {"tag1", "tag3"}, False),
        ({"tag1", "tag2"}, {"tag1", "tag2", "tag3"}, False),
        (set(), set(), True),
        (set(), {"tag1"}, False),
    ],
)
def test_tag_matching_as_floe(host: set[str], flow: set[str], ok: bool) -> None:
    assert tags_match(host, flow) is ok


def hosts(*spec: tuple[str, str, bool, int]) -> list[HostView]:
    return [HostView(i, frozenset(t.split(",")) - {""}, online, active) for i, t, online, active in spec]


def test_place_prefers_the_least_busy_live_host_with_the_tags() -> None:
    f = Flow("f", host_tags=("linux",))
    views = hosts(("h1", "linux", True, 3), ("h2", "linux", True, 1), ("h3", "mac", True, 0))
    assert place(f, views, []) == ("h2", "")


def test_place_skips_hosts_at_their_max_runs() -> None:
    f = Flow("f", host_tags=("linux",))
    busy = HostView("h1", frozenset({"linux"}), True, 2, running=2, max_runs=2)
    room = HostView("h2", frozenset({"linux"}), True, 5, running=5, max_runs=0)  # 0: any number
    assert place(f, [busy, room], []) == ("h2", "")
    assert place(f, [busy], []) == ("", "every host that fits is at its max-runs")
    waiting = HostView("h1", frozenset({"linux"}), True, 2, running=1, max_runs=2)  # one on a gate
    assert place(f, [waiting], []) == ("h1", "")


def test_place_names_why_nothing_fits() -> None:
    special = Flow("f", host_tags=("special",))
    assert place(special, hosts(("h1", "linux", True, 0)), []) == ("", "no host with tags special")
    assert place(special, hosts(("h2", "special", False, 0)), []) == ("", "host h2 unreachable")
    db = Flow("g", resource_tags=("db",))
    held = [Holder("h1-4", "h1", Flow("other", resource_tags=("db", "net")))]
    assert place(db, hosts(("h1", "", True, 0)), held) == ("", "resource db held by run h1-4")


def test_reuse_space_conflicts_only_with_the_same_flow_on_the_same_host() -> None:
    f = Flow("f", reuse_space=True)
    assert conflict(f, "h1", [Holder("h1-1", "h1", f)]) == "reuse-space workspace in use by run h1-1"
    assert conflict(f, "h2", [Holder("h1-1", "h1", f)]) == ""
    assert conflict(f, "h1", [Holder("h1-1", "h1", Flow("g", reuse_space=True))]) == ""


async def test_locks_are_exclusive_idempotent_and_survive_a_reload() -> None:
    store = MemoryStore()
    locks = Locks(store)
    assert locks.acquire("h1-1", "h1", ["db"], now=1.0) == ""
    assert locks.acquire("h1-1", "h1", ["db"], now=2.0) == ""  # the same run again: fine
    assert locks.acquire("h2-1", "h2", ["db", "net"]) == "resource db held by run h1-1"
    assert locks.acquire("h2-2", "h2", ["net"]) == ""
    again = Locks(store)
    await again.load()
    assert again.acquire("h3-1", "h3", ["net"]) == "resource net held by run h2-2"
    assert again.reconcile("h2", active=set(), older_than=float("inf")) == ["h2-2"]
    assert again.reconcile("h1", active={"h1-1"}, older_than=float("inf")) == []
    again.release("h1-1")
    assert again.acquire("h3-1", "h3", ["db", "net"]) == ""


def test_place_prefers_the_adopting_host_on_a_tie() -> None:
    f = Flow("f")
    views = hosts(("h1", "", True, 1), ("h2", "", True, 1), ("h3", "", True, 1))
    assert place(f, views, [], prefer="h3") == ("h3", "")
    assert place(f, views, []) == ("h1", "")
