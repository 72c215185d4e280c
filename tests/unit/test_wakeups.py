"""A host's answer to each wake-up of the PostgreSQL cluster's database (floe/model/wakeups.py)."""

from __future__ import annotations

import pytest

from floe.model.messages import ClaimedBy, Wake
from floe.model.wakeups import on_wake_up


@pytest.mark.parametrize(
    ("payload", "me", "message"),
    [
        ("claimed h1-3 h2", "h1", ClaimedBy("h1-3", "h2")),
        ("claimed h1-3 h2", "h3", ClaimedBy("h1-3", "h2")),
        ("offer h1-3 h2", "h2", Wake()),  # the least busy host that fits is asked to claim
        ("offer h1-3 h2", "h1", None),  # a host that stepped aside, or a bystander, claims nothing
        ("offer h1-3 h2", "h3", None),
        ("reason h1-3", "h1", Wake()),  # the pend's own host claims: the answer has its reason
        ("reason h1-3", "h2", None),
        ("reason my-host-12", "my-host", Wake()),
        ("pend h1-3", "h2", Wake()),
        ("pend h1-3 h1 []", "h2", Wake()),  # a pend any host may take wakes every host
        ('pend h1-3 h1 ["special"]', "h2", Wake()),  # h2 has the tag
        ('pend h1-3 h1 ["special"]', "h3", None),  # h3 lacks it: its claim could not take it
        ('pend h1-3 h1 ["special"]', "h1", Wake()),  # the pend's host claims: it writes the reason
        ('pend h1-3 h1 ["special", "gpu"]', "h2", None),
        ('pend h1-3 h1 ["a b", "c,d"]', "h4", Wake()),  # a tag of any form
        ("pend h1-3 h1 [not json", "h3", Wake()),
        ("ended h2-7", "h1", Wake()),
        ("left h3", "h1", Wake()),
        ("taken over h2,h3", "h1", Wake()),
        ("listening", "h1", Wake()),
    ],
)
def test_a_wake_up_claims_only_where_it_can_change_what_a_claim_takes(
    payload: str, me: str, message: ClaimedBy | Wake | None
) -> None:
    tags = {"h2": {"special", "linux"}, "h4": {"a b", "c,d"}}.get(me, {"linux"})
    assert on_wake_up(payload, me, tags) == message
