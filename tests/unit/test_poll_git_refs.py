"""poll-git's pure parts: ls-remote parsing, the ref diff (floe's TestDiffRefs), run values, opts."""

from __future__ import annotations

import re

from floe.triggers.poll_git import (
    DEFAULT_PERIOD,
    DEFAULT_REFS,
    RefState,
    changed_refs,
    parse_ls_remote,
    poll_spec,
    ref_values,
)

A, B, C = "a" * 40, "b" * 40, "c" * 40
LS = f"""{A}\tHEAD
{A}\trefs/heads/master
{B}\trefs/heads/feature/x
{C}\trefs/heads/poll-me
{B}\trefs/tags/v1.0
{C}\trefs/tags/v1.0^{{}}
{A}\trefs/pull/7/head
warning: redirecting to https://example.invalid/repo.git/
"""


def test_parse_ls_remote_drops_head_peeled_tags_and_noise() -> None:
    assert parse_ls_remote(LS) == {
        "refs/heads/master": A,
        "refs/heads/feature/x": B,
        "refs/heads/poll-me": C,
        "refs/tags/v1.0": B,
        "refs/pull/7/head": A,
    }


def test_exclude_is_a_regexp_searched_in_the_full_ref_name() -> None:
    refs = parse_ls_remote(LS, re.compile("poll.*"))
    assert "refs/heads/poll-me" not in refs and "refs/heads/master" in refs
    refs = parse_ls_remote(LS, re.compile("^refs/(tags|pull)/"))
    assert set(refs) == {"refs/heads/master", "refs/heads/feature/x", "refs/heads/poll-me"}


def test_diff_refs_different_url_reports_nothing() -> None:
    old = RefState("git@a:x.git", {"refs/heads/master": A})
    new = RefState("git@b:x.git", {"refs/heads/master": B, "refs/heads/new": C})
    assert changed_refs(old, new) == []


def test_diff_refs_first_poll_only_records() -> None:
    assert changed_refs(None, RefState("u", {"refs/heads/master": A})) == []


def test_diff_refs_new_and_moved_refs_reported_deleted_ignored() -> None:
    old = RefState("u", {"refs/heads/master": A, "refs/heads/same": B, "refs/heads/gone": C})
    new = RefState("u", {"refs/heads/master": B, "refs/heads/same": B, "refs/heads/feature/x": C})
    assert changed_refs(old, new) == [("refs/heads/feature/x", C), ("refs/heads/master", B)]


def test_ref_state_round_trips_and_rejects_junk() -> None:
    state = RefState("u", {"refs/heads/master": A})
    assert RefState.from_doc(state.doc()) == state
    assert RefState.from_doc(None) is None
    assert RefState.from_doc({"url": 3, "refs": {}}) is None
    assert RefState.from_doc({"url": "u", "refs": {"r": 1, "s": "x"}}) == RefState("u", {"s": "x"})


def test_run_values_keep_the_whole_branch_name() -> None:
    assert ref_values("u", "refs/heads/feature/x", A) == {
        "branch": "feature/x",
        "ref": "refs/heads/feature/x",
        "hash": A,
        "url": "u",
    }
    assert ref_values("u", "refs/tags/v1.0", A)["branch"] == "v1.0"
    assert ref_values("u", "refs/pull/7/head", A)["branch"] == ""


def test_poll_spec_defaults_and_floe_spelling() -> None:
    spec = poll_spec({"url": " git@h:o/r.git ", "exclude-refs": "refs/heads/master"}, git_key="/k")
    assert spec.url == "git@h:o/r.git"
    assert spec.patterns == (DEFAULT_REFS,)
    assert spec.period == DEFAULT_PERIOD
    assert spec.exclude is not None and spec.exclude.search("refs/heads/master")
    assert spec.key_file == "/k"
    spec = poll_spec(
        {"url": "u", "refs": "refs/heads/* refs/tags/*", "exclude": "x", "period": 3, "key-file": "/j"}
    )
    assert spec.patterns == ("refs/heads/*", "refs/tags/*")
    assert spec.exclude is not None and spec.exclude.pattern == "x"
    assert (spec.period, spec.key_file) == (3, "/j")
