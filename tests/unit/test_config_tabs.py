"""A tab inside a line loads as Go's YAML loads it; a tab in the indentation stays an error at its line."""

from __future__ import annotations

import pytest

from floe.config import ConfigError, parse_config

PLAIN = """common:
  store-type: memory
flows:
  - id: build
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - id: compile
        listen: trigger.good
        type: exec
        opts:
          cmd: make all
      - {id: done, listen: task.compile.good, type: end}
"""


@pytest.mark.parametrize(
    ("where", "before", "after"),
    [
        ("after key:", "store-type: memory", "store-type:\tmemory"),
        ("between key and value", "cmd: make all", "cmd: \t make all"),
        ("after a value", "ver: 1", "ver: 1\t"),
        ("before a comment", "type: exec", "type: exec\t# run it"),
        ("between a key and its colon", "listen: trigger.good", "listen\t: trigger.good"),
    ],
)
def test_a_tab_inside_a_line_loads_like_a_space(where: str, before: str, after: str) -> None:
    assert before in PLAIN
    assert parse_config(PLAIN.replace(before, after), "c.yml") == parse_config(PLAIN, "c.yml"), where


def test_a_tab_between_words_of_a_value_stays_in_it_and_block_scalars_keep_theirs() -> None:
    text = PLAIN.replace("cmd: make all", "cmd: make\tall").replace(
        "      - {id: done",
        '      - {id: sh, listen: trigger.good, type: exec, opts: {shell: "a\\tb"}}\n'
        "      - id: lit\n        listen: trigger.good\n        type: exec\n"
        "        opts:\n          shell: |\n            printf 'x\\ty'\n            \techo tabbed\n"
        "      - {id: done",
    )
    flow = parse_config(text, "c.yml").flows[0]
    assert flow.node("compile").opts["cmd"] == "make\tall"  # type: ignore[union-attr]
    assert flow.node("lit").opts["shell"] == "printf 'x\\ty'\n\techo tabbed\n"  # type: ignore[union-attr]


def test_a_tab_in_the_indentation_is_an_error_at_its_line() -> None:
    text = PLAIN.replace("    ver: 1", "\tver: 1")
    with pytest.raises(ConfigError) as err:
        parse_config(text.replace("store-type: memory", "store-type:\tmemory"), "c.yml")
    assert [p.line for p in err.value.errors] == [5]
    assert err.value.errors[0].message == "bad YAML: a tab in the indentation (YAML indents with spaces)"


def test_lines_after_a_tab_are_still_counted_right() -> None:
    text = PLAIN.replace("store-type: memory", "store-type:\tmemory").replace("    ver: 1", "    ver: one")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "c.yml")
    assert [(p.line, p.key) for p in err.value.errors] == [(5, "flows[0].ver")]
