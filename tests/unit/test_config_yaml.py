"""Bad YAML input: every fault is an error with its line (alias bombs, empty files, bad UTF-8, depth)."""

from __future__ import annotations

import time

import pytest

from floe.config import ConfigError, Problem, parse_config
from floe.config.errors import Report
from floe.config.load import parse_any, parse_flow_document
from floe.config.yamlio import MAX_DEPTH, _check_aliases

BOMB = (
    "common:\n  store-type: memory\n"
    + "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    )
)


def errors(text: str | bytes, parse: object = parse_config) -> list[Problem]:
    with pytest.raises(ConfigError) as err:
        parse(text, "c.yml")  # type: ignore[operator]
    return list(err.value.errors)


def test_an_alias_bomb_is_reported_quickly_at_its_lines() -> None:
    start = time.monotonic()
    found = errors(BOMB + "flows: *i\n")
    assert time.monotonic() - start < 2
    assert all(p.message.startswith("too many aliases") for p in found)
    assert [(p.line, p.key) for p in found] == [(8, "f"), (9, "g"), (10, "h"), (11, "i"), (12, "flows")]


@pytest.mark.parametrize("parse", [parse_config, parse_any, parse_flow_document])
def test_an_alias_bomb_deep_inside_a_flow_is_bounded(parse: object) -> None:
    inner = BOMB.replace("common:\n  store-type: memory\n", "").replace("\n", ", ").join("{}")
    text = f"flows:\n  - id: f\n    triggers: [{{name: s, type: data, opts: {inner}}}]\n"
    if parse is parse_flow_document:
        text = f"id: f\ntasks: [{{name: e, type: end, listen: trigger.good, opts: {inner}}}]\n"
    start = time.monotonic()
    found = errors(text, parse)
    assert time.monotonic() - start < 2
    assert found[0].message.startswith("too many aliases")
    assert (found[0].line, found[0].key) == ((2, "tasks") if parse is parse_flow_document else (1, "flows"))


def test_a_value_that_contains_itself_is_named() -> None:
    # ruamel reads `&r [*r]` as [null]; a cyclic value is still refused, not walked forever
    cyclic: list[object] = []
    cyclic.append(cyclic)
    report = Report("c.yml")
    assert not _check_aliases({"flows": cyclic}, report)
    (p,) = report.problems
    assert p.key == "flows" and p.message == "too many aliases: a value contains itself (recursive alias)"


def test_a_few_aliases_are_fine() -> None:
    text = (
        "flows:\n  - id: f\n    env: &e [A=1, B=2]\n    triggers: [{name: s, type: data}]\n"
        "    tasks: [{name: t, type: exec, listen: trigger.good, opts: {cmd: ls, env: *e}}]\n"
    )
    assert parse_config(text, "c").flows[0].env == ("A=1", "B=2")


@pytest.mark.parametrize(
    ("data", "line", "message"),
    [
        (b"\xa5\x4d\xca", 1, "not valid UTF-8 (byte 0xa5 at column 1)"),
        (b'flows:\n  - id: f\n    name: "caf\xe9 \xff"\n', 3, "not valid UTF-8 (byte 0xe9 at column 15)"),
        (b"\xef\xbb\xbfa: 1\nb: \xff\n", 2, "not valid UTF-8 (byte 0xff at column 4)"),
    ],
)
def test_not_utf8_names_the_line_and_column(data: bytes, line: int, message: str) -> None:
    (p,) = errors(data)
    assert (p.line, p.key, p.message) == (line, "", message)
    assert str(p) == f"c.yml:{line}: {message}"


def test_a_bom_is_not_content() -> None:
    assert parse_config(b"\xef\xbb\xbfflows: []\n", "c").flows == ()


@pytest.mark.parametrize("parse", [parse_config, parse_any, parse_flow_document])
def test_an_empty_file_is_an_error_for_every_kind(parse: object) -> None:
    (p,) = errors(b"# nothing here\n\n", parse)
    assert str(p) == "c.yml:1: file is empty: expected a host config (common/flows) or a flow-file document"


def test_a_null_document_is_not_a_mapping() -> None:
    (p,) = errors("~\n")
    assert (p.line, p.message) == (1, "must be a mapping, not null")


def test_nesting_too_deep_names_the_line_where_the_limit_is_passed() -> None:
    text = "flows:\n  - id: f\n    tasks:\n" + "      - x\n" + "    env: " + "[" * 100 + "]" * 100 + "\n"
    (p,) = errors(text)
    assert (p.line, p.message) == (5, f"YAML nested deeper than {MAX_DEPTH} levels")
    deep = "a: " + "[" * MAX_DEPTH + "\n" + "[" + "]" * (MAX_DEPTH + 1) + "\n"
    (p,) = errors(deep)
    assert p.line == 2


def test_an_unterminated_string_is_reported_where_it_starts() -> None:
    text = 'flows:\n  - id: f\n    name: "open\n    ver: 1\n    env: []\n'
    (p,) = errors(text)
    assert p.line == 3
    assert p.message.startswith("bad YAML") and "quoted scalar" in p.message
