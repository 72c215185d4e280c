"""Opts: floe's merge and expansion tables, plus the fixed env and command rules."""

from __future__ import annotations

import pytest

from floe.model.opts import (
    OptError,
    build_env,
    expand_command_vars,
    expand_env_entry,
    expand_value,
    expand_ws,
    merge_opts,
    opt_seconds,
    opt_str,
    opt_str_list,
    value_env,
)

WS = "/base/path"


def test_merge_right_wins_per_key() -> None:
    assert merge_opts({"a": 1, "b": 2}, {"b": 3, "c": 4}) == {"a": 1, "b": 3, "c": 4}


def test_merge_concatenates_env_lists() -> None:
    left = {"env": ["A=1", "B=2", "C=3"], "x": 1}
    right = {"env": ["D=4", "E=5", "F=6"]}
    merged = merge_opts(left, right)
    assert merged["env"] == ["A=1", "B=2", "C=3", "D=4", "E=5", "F=6"]
    assert merged["x"] == 1
    assert left["env"] == ["A=1", "B=2", "C=3"]  # inputs untouched


def test_merge_env_not_a_list_on_one_side_is_replaced() -> None:
    assert merge_opts({"env": "A=1"}, {"env": ["B=2"]}) == {"env": ["B=2"]}
    assert merge_opts({"env": ["A=1"]}, {}) == {"env": ["A=1"]}


@pytest.mark.parametrize(
    ("entry", "want"),
    [
        ("OOF={{ws}}/oof", "OOF=/base/path/oof"),
        ("GOPATH=./go", "GOPATH=/base/path/go"),
        ("X=/go/{{ws}}", "X=/go/base/path"),
        ("X=./...", "X=./..."),
        ("X=./../", "X=/base/path/../"),
        ("X=.", "X=/base/path"),
        ("X=a=./b", "X=a=./b"),
        ("PATH=./go/bin:$PATH", "PATH=/base/path/go/bin:/usr/bin"),
        ("X=${HOME}/y", "X=/home/me/y"),
        ("X=$MISSING", "X="),
        ("X=cost $ 5", "X=cost $ 5"),
        ("{{ws}}/a", "/base/path/a"),
    ],
)
def test_expand_env_entry_floe_table(entry: str, want: str) -> None:
    host = {"PATH": "/usr/bin", "HOME": "/home/me"}
    assert expand_env_entry(entry, WS, host) == want


@pytest.mark.parametrize(
    ("value", "want"),
    [("./go", "/base/path/go"), (".", "/base/path"), ("{{ws}}", "/base/path"), ("$HOME", "/h")],
)
def test_expand_value(value: str, want: str) -> None:
    assert expand_value(value, WS, {"HOME": "/h"}) == want


def test_expand_ws_leaves_vars_alone() -> None:
    assert expand_ws("./$X/{{ws}}", WS) == "/base/path/$X/base/path"


def test_expansion_is_one_pass() -> None:
    # a substituted value is not expanded again
    assert expand_value("$A", WS, {"A": "$B", "B": "no"}) == "$B"
    assert expand_value("$A", WS, {"A": "{{ws}}"}) == "{{ws}}"


def test_build_env_flow_and_task_both_apply() -> None:
    env = build_env({"PATH": "/usr/bin", "KEEP": "k"}, ["F=flow", "S=flow"], ["T=task", "S=task"], WS)
    assert env["F"] == "flow"
    assert env["T"] == "task"
    assert env["S"] == "task"  # the task wins on the same key
    assert env["KEEP"] == "k"
    assert env["FLOEWS"] == WS


def test_build_env_entries_see_host_and_earlier_entries() -> None:
    env = build_env({"PATH": "/usr/bin"}, ["PATH=./go/bin:$PATH"], ["PATH=./bin:$PATH", "G=$PATH"], WS)
    assert env["PATH"] == "/base/path/bin:/base/path/go/bin:/usr/bin"
    assert env["G"] == env["PATH"]


def test_build_env_does_not_touch_host_mapping() -> None:
    host = {"A": "1"}
    build_env(host, ["A=2"], [], WS)
    assert host == {"A": "1"}


@pytest.mark.parametrize("bad", ["NOEQUALS", "=value"])
def test_build_env_rejects_malformed_entries(bad: str) -> None:
    with pytest.raises(OptError, match="KEY=value"):
        build_env({}, [], [bad], WS)


def test_expand_command_vars_uses_task_env() -> None:
    env = {"FLOEWS": WS, "FOO": "bar"}
    assert expand_command_vars("{{ws}}/x-$FOO-${FOO}-$NONE", env) == "/base/path/x-bar-bar-"


def test_opt_readers() -> None:
    opts = {"s": "x", "n": 3, "b": True, "l": ["a", 1, False], "d": {"a": 1}, "p": "2.5", "e": ""}
    assert opt_str(opts, "s") == "x"
    assert opt_str(opts, "n") == "3"
    assert opt_str(opts, "missing") == ""
    assert opt_str_list(opts, "l") == ["a", "1", "false"]
    assert opt_str_list(opts, "missing") == []
    assert opt_seconds(opts, "n") == 3.0
    assert opt_seconds(opts, "p") == 2.5
    with pytest.raises(OptError, match="opt e is required"):
        opt_str(opts, "e", required=True)
    with pytest.raises(OptError, match="opt d must be a string"):
        opt_str(opts, "d")
    with pytest.raises(OptError, match="opt s must be a list"):
        opt_str_list(opts, "s")


@pytest.mark.parametrize("bad", [None, True, "soon", -1, float("nan"), float("inf")])
def test_opt_seconds_rejects(bad: object) -> None:
    with pytest.raises(OptError, match="period"):
        opt_seconds({"period": bad}, "period")


def test_value_env_names_and_texts() -> None:
    env = value_env(
        {"branch": "$(id)", "to-hash": "abc", "jobs": 2, "fast": False, "none": None, "list": [1, "a"]}
    )
    assert env == {
        "FLOE_VALUE_BRANCH": "$(id)",  # never interpreted: a shell sees it only as "$FLOE_VALUE_BRANCH"
        "FLOE_VALUE_TO_HASH": "abc",
        "FLOE_VALUE_JOBS": "2",
        "FLOE_VALUE_FAST": "false",
        "FLOE_VALUE_NONE": "",
        "FLOE_VALUE_LIST": '[1, "a"]',
    }
    assert value_env({"a-b": "1", "a_b": "2", "nul": "x\0y"}) == {"FLOE_VALUE_A_B": "2"}
