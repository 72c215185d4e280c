"""Opts stay free, but the options each node type reads are type-checked."""

from __future__ import annotations

import pytest

from floe.config import ConfigError, parse_config


def flow(
    trigger: str = "{name: start, type: data}",
    task: str = "{name: t, type: exec, listen: trigger.good, opts: {cmd: ls}}",
) -> str:
    """A config whose trigger is on line 4 and whose task is on line 6."""
    return f"flows:\n  - id: f\n    triggers:\n      - {trigger}\n    tasks:\n      - {task}\n"


def task(node_type: str, opts: str) -> str:
    return flow(task=f"{{name: t, type: {node_type}, listen: trigger.good, opts: {opts}}}")


def trigger(node_type: str, opts: str) -> str:
    return flow(trigger=f"{{name: s, type: {node_type}, opts: {opts}}}")


VALID = [
    task("exec", "{cmd: ls, args: [-l], sub-dir: src, env: [A=1], anything: [1, {x: 2}]}"),
    task("exec", "{shell: 'echo $HOME'}"),
    task("fetch", "{url: 'http://x/a.tgz', checksum: abc, checksum-algo: md5, location: out/}"),
    task("fetch", "{url: 'http://x/a.tgz', location: /opt/a.tgz}"),
    task("git-checkout", "{url: u, branch: b, hash: h, sub-dir: src/x, key-file: k}"),
    task("git-merge", "{url: u, branch: b, from-branch: c}"),
    task("timer", "{period: 1.5}"),
    task("data", "{form: {title: T, fields: [{id: a}]}}"),
    task("end", "{whatever: 1}"),
    trigger("timer", "{period: 300, url: u, branch: master}"),
    trigger("timer", "{cron: '*/5 * * * *', tz: Europe/London}"),
    trigger("poll-git", "{url: u, refs: 'refs/heads/*', exclude-refs: 'refs/heads/master', period: 10}"),
    trigger("poll-git", "{url: u, exclude: 'poll.*'}"),
    trigger("webhook", "{secret: s, branches: [main, dev], url: u}"),
    trigger("git-push", "{branches: main}"),
    trigger("data", "{url: u, form: {title: Start, fields: []}}"),
]


@pytest.mark.parametrize("text", VALID)
def test_valid_opts_load_without_problems(text: str) -> None:
    assert parse_config(text, "c").warnings == ()


INVALID = [
    (task("exec", "{cmd: [ls]}"), 6, "opts.cmd", "must be a string"),
    (task("exec", "{shell: 1}"), 6, "opts.shell", "must be a string"),
    (task("exec", "{cmd: ls, args: '-l'}"), 6, "opts.args", "list of strings"),
    (task("exec", "{cmd: ls, args: [1]}"), 6, "opts.args[0]", "must be a string"),
    (task("exec", "{cmd: ls, sub-dir: 3}"), 6, "opts.sub-dir", "must be a string"),
    (task("exec", "{cmd: ls, sub-dir: ../up}"), 6, "opts.sub-dir", "inside the workspace"),
    (task("exec", "{cmd: ls, sub-dir: /abs}"), 6, "opts.sub-dir", "inside the workspace"),
    (task("exec", "{cmd: ls, env: A=1}"), 6, "opts.env", "list of strings"),
    (task("exec", "{cmd: ls, env: [A]}"), 6, "opts.env", "KEY=value"),
    (task("fetch", "{checksum: abc}"), 6, "opts.url", "needs a url"),
    (task("fetch", "{url: 1}"), 6, "opts.url", "must be a string"),
    (task("fetch", "{url: u, checksum-algo: sha512}"), 6, "opts.checksum-algo", "not one of"),
    (task("fetch", "{url: u, location: ../x}"), 6, "opts.location", "inside the workspace"),
    (task("git-checkout", "{branch: [a]}"), 6, "opts.branch", "must be a string"),
    (task("git-merge", "{from-branch: 1}"), 6, "opts.from-branch", "must be a string"),
    (task("timer", "{period: soon}"), 6, "opts.period", "must be a number"),
    (task("data", "{form: [a]}"), 6, "opts.form", "must be a mapping"),
    (task("data", "{form: {title: [x]}}"), 6, "opts.form.title", "must be a string"),
    (task("data", "{form: {fields: {id: a}}}"), 6, "opts.form.fields", "must be a list"),
    (trigger("timer", "{period: 1.5}"), 4, "opts.period", "must be an integer"),
    (trigger("timer", "{period: 0}"), 4, "opts.period", "at least 1"),
    (trigger("timer", "{cron: '* * *'}"), 4, "opts.cron", "has 3 fields; a cron expression has 5"),
    (
        trigger("timer", "{cron: '99 * * * *'}"),
        4,
        "opts.cron",
        "'99 * * * *': minute 99 is out of range 0-59",
    ),
    (trigger("timer", "{cron: '0 25 * * *'}"), 4, "opts.cron", "hour 25 is out of range 0-23"),
    (trigger("timer", "{cron: '0 0 1-32 * *'}"), 4, "opts.cron", "day of month 32 is out of range 1-31"),
    (trigger("timer", "{cron: '0 0 * 13 *'}"), 4, "opts.cron", "month 13 is out of range 1-12"),
    (trigger("timer", "{cron: '0 0 * * 1,9'}"), 4, "opts.cron", "day of week 9 is out of range 0-7"),
    (trigger("timer", "{cron: '*/0 * * * *'}"), 4, "opts.cron", "minute '*/0': a step of 0 never repeats"),
    (trigger("timer", "{cron: '0 0 * * someday'}"), 4, "opts.cron", "day of week 'someday' is not a number"),
    (trigger("timer", "{cron: '* * * * *', period: 5}"), 4, "opts.cron", "not both"),
    (trigger("timer", "{period: 5, tz: Mars/Base}"), 4, "opts.tz", "time zone"),
    (trigger("poll-git", "{refs: x}"), 4, "opts.url", "needs a url"),
    (trigger("poll-git", "{url: u, period: '10'}"), 4, "opts.period", "must be an integer"),
    (trigger("poll-git", "{url: u, exclude-refs: '(x'}"), 4, "opts.exclude-refs", "regular expression"),
    (trigger("poll-git", "{url: u, exclude: 3}"), 4, "opts.exclude", "must be a string"),
    (trigger("webhook", "{secret: 123}"), 4, "opts.secret", "must be a string"),
    (trigger("webhook", "{branches: {a: b}}"), 4, "opts.branches", "list of strings"),
    (trigger("data", "{form: {fields: [{id: a, type: date}]}}"), 4, "opts.form.fields[0].type", "not one of"),
]


@pytest.mark.parametrize(("text", "line", "key", "fragment"), INVALID)
def test_read_options_are_typed(text: str, line: int, key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c")
    (p,) = err.value.errors
    assert p.line == line
    assert p.key.endswith(key) and p.key.startswith("flows[0].t")
    assert fragment in p.message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (task("exec", "{}"), "neither cmd nor shell"),
        (flow(task="{name: t, type: exec, listen: trigger.good}"), "neither cmd nor shell"),
        (task("exec", "{cmd: ls, shell: ls}"), "cmd is used"),
        (task("exec", """{cmd: 'echo "unclosed'}"""), "no closing quotation; the task fails when it runs"),
        (task("exec", """{cmd: "echo 'x"}"""), "no closing quotation"),
    ],
)
def test_exec_command_warnings(text: str, fragment: str) -> None:
    (w,) = parse_config(text, "c").warnings
    assert w.line == 6 and fragment in w.message


def test_fetch_without_opts_names_the_node_line() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(flow(task="{name: t, type: fetch, listen: trigger.good}"), "c")
    assert [(p.line, p.key) for p in err.value.errors] == [(6, "flows[0].tasks[0].opts.url")]


def test_opts_become_plain_json_values() -> None:
    text = task(
        "exec",
        "{cmd: ls, n: 0x10, f: 1.5, b: &x true, c: *x, d: 2024-01-02, t: !custom v, l: [1, {k: null}]}",
    )
    opts = parse_config(text, "c").flows[0].tasks[0].opts
    assert opts == {
        "cmd": "ls",
        "n": 16,
        "f": 1.5,
        "b": True,
        "c": True,
        "d": "2024-01-02",
        "t": "v",
        "l": [1, {"k": None}],
    }
    assert (
        type(opts["n"]) is int
        and type(opts["f"]) is float
        and type(opts["b"]) is bool
        and type(opts["cmd"]) is str
    )
