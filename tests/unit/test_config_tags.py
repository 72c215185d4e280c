"""Listen and wait tags no node can emit are warnings with file and line; the config still loads."""

from __future__ import annotations

import pytest

from floe.config import parse_config

HEAD = "flows:\n  - id: f\n    triggers: [{name: s, type: data}]\n    tasks:\n"


def tasks(*nodes: str) -> str:
    """A config whose first task is on line 5."""
    return HEAD + "".join(f"      - {n}\n" for n in nodes)


A = "{name: a, type: exec, listen: trigger.good, opts: {cmd: ls}}"
ST = "{name: st, type: exec, listen: trigger.good, use-status: true, good: [0, 2], opts: {shell: exit 2}}"
D = "{name: d, type: data, listen: trigger.good}"
M = "{name: m, class: merge, wait: [task.a.good, task.a.bad]}"
E = "{name: e, type: end, listen: trigger.good}"

EMITTABLE = [
    "trigger.good",
    "task.a.good",
    "task.a.bad",
    "task.a.error",
    "task.st.2",
    "task.st.137",
    "task.st.good",
    "task.d.good",
    "task.d.bad",
    "merge.m.good",
]


@pytest.mark.parametrize("tag", EMITTABLE)
def test_emittable_tags_give_no_warning(tag: str) -> None:
    cfg = parse_config(tasks(A, ST, D, M, E, f"{{name: z, type: end, listen: '{tag}'}}"), "c.yml")
    assert cfg.warnings == ()


NOT_EMITTABLE = [
    ("task.a.2", ""),  # no use-status on a
    ("task.d.error", ""),
    ("task.m.good", "did you mean 'merge.m.good'?"),
    ("merge.a.good", "did you mean 'task.a.good'?"),
    ("task.e.good", "end node"),
    ("task.stt.good", "(no node has id 'stt'; did you mean 'st'?)"),
    ("task.st.x", ""),
    ("trigger.bad", ""),
    ("task.s.good", "'s' is a trigger; triggers emit 'trigger.good'"),
    ("nonsense", ""),
]


@pytest.mark.parametrize(("tag", "hint"), NOT_EMITTABLE)
def test_listen_nobody_emits_is_a_warning_with_line(tag: str, hint: str) -> None:
    cfg = parse_config(tasks(A, ST, D, M, E, f"{{name: z, type: end, listen: '{tag}'}}"), "c.yml")
    (w,) = cfg.warnings
    assert (w.file, w.line, w.key, w.severity) == ("c.yml", 10, "flows[0].tasks[5].listen", "warning")
    assert w.message.startswith(f"no node emits {tag!r}")
    assert hint in w.message
    assert str(w).startswith("c.yml:10: warning: flows[0].tasks[5].listen: no node emits")


def test_each_wait_tag_is_checked_on_its_own_line() -> None:
    text = tasks(
        A,
        "name: m\n        class: merge\n        wait:\n"
        "          - task.a.good\n          - task.x.good\n          - task.y.good",
    )
    cfg = parse_config(text, "c.yml")
    assert [(w.line, w.key) for w in cfg.warnings] == [
        (10, "flows[0].tasks[1].wait[1]"),
        (11, "flows[0].tasks[1].wait[2]"),
    ]


def test_a_flow_file_flow_needs_no_tasks() -> None:
    cfg = parse_config(
        "flows:\n  - id: f\n    flow-file: f.yml\n    triggers: [{name: s, type: data}]\n", "c"
    )
    assert cfg.warnings == ()
    assert cfg.flows[0].tasks == ()


def test_a_flow_without_triggers_or_tasks_warns() -> None:
    cfg = parse_config("flows:\n  - id: f\n", "c")
    assert [(w.line, w.key) for w in cfg.warnings] == [(2, "flows[0].triggers"), (2, "flows[0].tasks")]


def test_flow_warnings_are_found_per_flow() -> None:
    text = tasks(A, "{name: z, type: end, listen: task.q.good}") + "  - id: g\n"
    cfg = parse_config(text, "c")
    f, g = cfg.flows
    assert [w.line for w in cfg.flow_warnings(f)] == [6]
    assert [w.key for w in cfg.flow_warnings(g)] == ["flows[1].triggers", "flows[1].tasks"]
    assert cfg.flow_warnings(parse_config(text, "c").flows[0]) == ()  # not one of this config's flows
