"""floe's id/name derivation (TestZeroNID) and id uniqueness, through the loader."""

from __future__ import annotations

import textwrap

import pytest

from floe.config import ConfigError, parse_config
from floe.config.ids import derive


@pytest.mark.parametrize(
    ("raw_id", "raw_name", "want_id", "want_name"),
    [
        ("a-b", None, "a-b", "a b"),
        (None, "a b.2", "a-b-2", "a b.2"),
        ("a-b--", None, "a-b", "a b"),
        ("--a-b..", None, "a-b", "a b"),
        ("  Build  ", None, "build", "build"),
        (None, "Sign Off", "sign-off", "Sign Off"),
        ("x", "Given Name", "x", "Given Name"),
    ],
)
def test_derive(raw_id: str | None, raw_name: str | None, want_id: str, want_name: str) -> None:
    assert derive(raw_id, raw_name) == (want_id, want_name, "")


@pytest.mark.parametrize(
    ("raw_id", "raw_name", "message"),
    [
        ("a.b", None, "must not contain spaces, dots or slashes"),
        ("a b", None, "must not contain spaces, dots or slashes"),
        ("a/b", None, "must not contain spaces, dots or slashes"),
        (None, None, "needs an id or a name"),
        ("", "", "needs an id or a name"),
        ("--..", None, "is empty once trimmed"),
        (None, "w/ slash", "give an explicit id"),
    ],
)
def test_derive_rejects(raw_id: str | None, raw_name: str | None, message: str) -> None:
    assert message in derive(raw_id, raw_name)[2]


def _config(flows: str) -> str:
    return "flows:\n" + textwrap.indent(textwrap.dedent(flows), "  ")


def test_node_ids_and_names_are_derived() -> None:
    cfg = parse_config(
        _config(
            """\
            - name: My Flow.2
              triggers:
                - id: --Go..
                  type: data
              tasks:
                - name: Check Out
                  type: exec
                  listen: trigger.good
                  opts: {cmd: ls}
                - id: done-it
                  type: end
                  listen: task.check-out.good
            """
        ),
        "f.yml",
    )
    flow = cfg.flows[0]
    assert (flow.id, flow.name) == ("my-flow-2", "My Flow.2")
    assert [(n.id, n.name) for n in (*flow.triggers, *flow.tasks)] == [
        ("go", "go"),
        ("check-out", "Check Out"),
        ("done-it", "done it"),
    ]
    assert cfg.warnings == ()


def test_duplicate_node_ids_across_triggers_and_tasks() -> None:
    text = _config(
        """\
        - id: f
          triggers:
            - name: Start
              type: data
          tasks:
            - name: start
              type: end
              listen: trigger.good
        """
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, "f.yml")
    (problem,) = err.value.errors
    assert problem.message.startswith("2 nodes have id: start")
    assert problem.line == 7
    assert str(problem).startswith("f.yml:7: ")


def test_duplicate_flow_id_and_ver() -> None:
    text = _config(
        """\
        - id: f
          ver: 1
          triggers: [{name: s, type: data}]
          tasks: [{name: e, type: end, listen: trigger.good}]
        - id: f
          ver: 2
          triggers: [{name: s, type: data}]
          tasks: [{name: e, type: end, listen: trigger.good}]
        - name: F
          ver: 1
          triggers: [{name: s, type: data}]
          tasks: [{name: e, type: end, listen: trigger.good}]
        """
    )
    with pytest.raises(ConfigError) as err:
        parse_config(text, "f.yml")
    (problem,) = err.value.errors
    assert "2 flows have id f and ver 1" in problem.message
    assert problem.line == 10


@pytest.mark.parametrize(
    ("flow_line", "message"),
    [("id: a.b", "must not contain spaces, dots or slashes"), ("ver: 1", "needs an id or a name")],
)
def test_bad_flow_id(flow_line: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(f"flows:\n  - {flow_line}\n    tasks: []\n", "f.yml")
    assert [(p.line, p.key) for p in err.value.errors] == [(2, "flows[0].id")]
    assert message in err.value.errors[0].message
