"""Which ref a poll-git Run now runs: the one asked for, else HEAD's branch, else the only one."""

from __future__ import annotations

import pytest

from floe.triggers.run_now import CannotRunNow, pick_ref

REFS = {"refs/heads/main": "a" * 40, "refs/heads/feature/x": "b" * 40, "refs/tags/v1": "c" * 40}


@pytest.mark.parametrize(
    ("asked", "head", "want"),
    [
        ("", "refs/heads/main", "refs/heads/main"),
        ("feature/x", "refs/heads/main", "refs/heads/feature/x"),
        ("refs/heads/feature/x", "", "refs/heads/feature/x"),
        ("v1", "refs/heads/main", "refs/tags/v1"),
    ],
)
def test_the_ref_asked_for_else_the_default_branch(asked: str, head: str, want: str) -> None:
    assert pick_ref(REFS, asked, head) == want


def test_the_only_ref_when_head_is_not_watched() -> None:
    assert pick_ref({"refs/tags/v1": "c" * 40}, "", "refs/heads/main") == "refs/tags/v1"


@pytest.mark.parametrize(
    ("refs", "asked", "head", "says"),
    [
        (REFS, "nope", "refs/heads/main", "nope is not a ref this trigger watches"),
        (REFS, "", "refs/heads/gone", "name a ref: this trigger watches 3"),
        ({}, "", "refs/heads/main", "no ref this trigger watches"),
    ],
)
def test_no_single_ref_is_a_400_on_ref(refs: dict[str, str], asked: str, head: str, says: str) -> None:
    with pytest.raises(CannotRunNow, match=says) as e:
        pick_ref(refs, asked, head)
    assert e.value.field == "ref"
