"""Whatever the input, loading gives a result or a ConfigError, never another exception."""

from __future__ import annotations

import string

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from floe.config import ConfigError, parse_any, parse_config, parse_flow_document

KEYS = [
    "common",
    "flows",
    "id",
    "name",
    "ver",
    "tasks",
    "triggers",
    "type",
    "listen",
    "wait",
    "opts",
    "class",
    "good",
    "form",
    "fields",
    "cmd",
    "period",
    "hosts",
    "workspace-root",
    "store-type",
    "env",
    "timeout",
    "cron",
    "tz",
    "regex",
    "options",
    "default",
]
WORDS = (
    *("data", "exec", "merge", "end", "timer", "poll-git", "webhook", "fetch", "git-checkout", "choice"),
    *("int", "bool", "s3", "trigger.good", "task.a.good", "~", "%tmp", "[a", "* * * * *", "UTC", "1m"),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(WORDS),
)
trees = st.recursive(
    scalars,
    lambda kids: (
        st.lists(kids, max_size=4)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=4), kids, max_size=5)
    ),
    max_leaves=30,
)


def to_yaml(value: object, indent: int = 0) -> str:
    """A tiny emitter producing flow-style YAML (any odd scalar becomes a quoted string)."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{to_yaml(k)}: {to_yaml(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(to_yaml(v) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode("ascii").replace('"', '\\"') + '"'
    if value is None:
        return "null"
    return str(value).lower() if isinstance(value, bool) else str(value)


def load_everything(text: str | bytes) -> None:
    for parse in (parse_config, parse_flow_document, parse_any):
        try:
            parse(text, "fuzz.yml")
        except ConfigError as exc:
            assert exc.problems and all(p.is_error or p.severity == "warning" for p in exc.problems)
            assert str(exc)


FAST = settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(trees)
def test_random_structures(tree: object) -> None:
    load_everything(to_yaml(tree))
    load_everything(to_yaml({"flows": [tree]}))
    load_everything(to_yaml({"flows": [{"id": "f", "tasks": [tree], "triggers": [tree]}]}))


@FAST
@given(st.text(alphabet=string.printable + "\x00\x1b\u2028\ufeff\ud800é&*!|>-:[]{}", max_size=200))
def test_random_text(text: str) -> None:
    load_everything(text)


@FAST
@given(st.binary(max_size=200))
def test_random_bytes(data: bytes) -> None:
    load_everything(data)


def test_alias_bomb_and_recursion() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
    for text in (
        "flows:\n  - id: f\n    triggers: [{name: s, type: data, opts: {x: &r [*r]}}]\n",
        "flows:\n  - id: f\n    triggers: [{name: s, type: data, opts: "
        + bomb.replace("\n", ", ").join("{}")
        + "}]\n",
        "flows: " + "[" * 5000 + "]" * 5000 + "\n",
        "id: f\ntasks: [{name: e, type: end, listen: trigger.good, opts: &o {self: *o}}]\n",
        "flows:\n" + "".join("  " * i + "- \n" for i in range(1, 400)),
    ):
        load_everything(text)
