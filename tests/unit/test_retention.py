"""Retention: the pure decision (keep N, keep D days, failed kept longer, held runs never) and its config."""

from __future__ import annotations

import pytest

from floe.config import ConfigError, parse_config, parse_flow_document
from floe.model.retention import DAY, DEFAULT_WORKSPACE_RUNS, SINGLE, Archived, Retention, plan

NOW = 1_000 * DAY


def runs(n: int, *, failed: set[int] = frozenset(), step: float = 60.0) -> list[Archived]:
    """Runs r1..rn, r1 the oldest, one every `step` seconds up to NOW."""
    return [Archived(f"h1-{i}", NOW - (n - i) * step, i in failed) for i in range(1, n + 1)]


def ids(*numbers: int) -> tuple[str, ...]:
    return tuple(f"h1-{i}" for i in numbers)


def test_nothing_configured_keeps_every_run_and_the_default_workspaces() -> None:
    archived = runs(15)
    todo = plan(archived, [a.run_id for a in archived], (), Retention(), NOW)
    assert todo.runs == ()
    assert sorted(todo.workspaces) == sorted(ids(*range(1, 15 - DEFAULT_WORKSPACE_RUNS + 1)))


def test_keep_runs_keeps_the_newest_n_in_any_order_given() -> None:
    archived = list(reversed(runs(8)))
    todo = plan(archived, (), (), Retention(keep_runs=5), NOW)
    assert sorted(todo.runs) == sorted(ids(1, 2, 3))


def test_keep_days_deletes_older_runs() -> None:
    archived = runs(5, step=DAY)  # ages 4, 3, 2, 1, 0 days
    todo = plan(archived, (), (), Retention(keep_days=2.5), NOW)
    assert sorted(todo.runs) == sorted(ids(1, 2))


def test_both_limits_apply() -> None:
    archived = runs(6, step=DAY)  # ages 5..0 days
    assert sorted(plan(archived, (), (), Retention(keep_runs=4, keep_days=1.5), NOW).runs) == sorted(
        ids(1, 2, 3, 4)
    )
    assert sorted(plan(archived, (), (), Retention(keep_runs=2, keep_days=4.5), NOW).runs) == sorted(
        ids(1, 2, 3, 4)
    )


def test_failed_runs_are_kept_longer_and_take_no_place() -> None:
    archived = runs(8, failed={1, 6}, step=DAY)  # ages 7..0 days; h1-1 is 7 days old, h1-6 2
    todo = plan(archived, (), (), Retention(keep_runs=3, keep_failed_days=5), NOW)
    # ordinary newest three: 8, 7, 5; the failed h1-6 is kept (2 days), h1-1 (7 days) is not
    assert sorted(todo.runs) == sorted(ids(1, 2, 3, 4))


def test_failed_runs_follow_the_ordinary_rules_without_keep_failed_days() -> None:
    archived = runs(5, failed={1, 2})
    assert sorted(plan(archived, (), (), Retention(keep_runs=3), NOW).runs) == sorted(ids(1, 2))


def test_held_runs_are_never_deleted_nor_their_workspaces() -> None:
    archived = runs(6)
    held = ids(1)  # re-run by a pending run
    spaces = [*ids(1, 2, 3, 4, 5, 6), "h1-7"]  # h1-7: active, not archived
    todo = plan(archived, spaces, {*held, "h1-7"}, Retention(keep_runs=2, workspace_runs=1), NOW)
    assert sorted(todo.runs) == sorted(ids(2, 3, 4))
    assert sorted(todo.workspaces) == sorted(ids(2, 3, 4, 5))


def test_workspaces_of_deleted_runs_go_and_keep_counts_survivors() -> None:
    archived = runs(6, failed={2})
    spaces = ids(1, 2, 3, 4, 5, 6)
    todo = plan(archived, spaces, (), Retention(keep_runs=3, keep_failed_days=30, workspace_runs=2), NOW)
    assert sorted(todo.runs) == sorted(ids(1, 3))
    assert sorted(todo.workspaces) == sorted(ids(1, 2, 3, 4))


def test_workspaces_zero_deletes_every_archived_runs_workspace() -> None:
    archived = runs(3)
    assert sorted(plan(archived, ids(1, 2, 3), (), Retention(workspace_runs=0), NOW).workspaces) == sorted(
        ids(1, 2, 3)
    )


def test_single_and_unknown_directories_are_left_alone() -> None:
    archived = runs(3)
    todo = plan(archived, [SINGLE, "h2-9", "notes"], (), Retention(keep_runs=1, workspace_runs=0), NOW)
    assert todo.workspaces == ()
    assert sorted(todo.runs) == sorted(ids(1, 2))


def test_a_flow_overrides_common_key_by_key() -> None:
    common = Retention(keep_runs=50, keep_days=30, workspace_runs=5)
    mine = Retention(keep_runs=3, keep_failed_days=90)
    assert mine.over(common) == Retention(keep_runs=3, keep_days=30, keep_failed_days=90, workspace_runs=5)


CONFIG = """\
common:
  retention: {keep-runs: 50, keep-days: 30, keep-failed-days: 90, workspaces: {keep-runs: 5}}
flows:
  - id: f
    retention:
      keep-runs: 3
    triggers:
      - {name: go, type: data}
    tasks:
      - {name: a, type: exec, listen: trigger.good, opts: {cmd: "true"}}
"""


def test_config_reads_common_and_flow_retention() -> None:
    cfg = parse_config(CONFIG, "c.yml")
    assert cfg.common.retention == Retention(
        keep_runs=50, keep_days=30, keep_failed_days=90, workspace_runs=5
    )
    (flow,) = cfg.flows
    assert flow.retention == Retention(keep_runs=3)


@pytest.mark.parametrize(
    ("old", "new", "line", "key", "says"),
    [
        ("keep-runs: 3", "keep-run: 3", 6, "flows[0].retention.keep-run", "unknown key"),
        ("keep-runs: 3", "keep-runs: three", 6, "flows[0].retention.keep-runs", "integer"),
        ("keep-runs: 3", "keep-runs: 0", 6, "flows[0].retention.keep-runs", "at least 1"),
        ("keep-runs: 3", "keep-days: -1", 6, "flows[0].retention.keep-days", "more than 0"),
        ("keep-runs: 3", "workspaces: {keep: 1}", 6, "flows[0].retention.workspaces.keep", "unknown key"),
        ("keep-runs: 3", "workspaces: 4", 6, "flows[0].retention.workspaces", "mapping"),
    ],
)
def test_bad_retention_keys_name_file_line_and_key(
    old: str, new: str, line: int, key: str, says: str
) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(CONFIG.replace(old, new), "c.yml")
    (problem,) = err.value.errors
    assert (problem.line, problem.key) == (line, key), problem
    assert says in problem.message
    assert "c.yml" in str(err.value)


def test_common_retention_must_be_a_mapping() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(
            CONFIG.replace("  retention: {keep-runs: 50", "  retention: [1]\n  x: {keep-runs: 50"), "c.yml"
        )
    assert any(p.key == "common.retention" and p.line == 2 for p in err.value.errors), err.value


def test_a_flow_file_document_s_retention_warns_that_it_is_ignored() -> None:
    doc = parse_flow_document(
        "id: x\nretention: {keep-runs: 2}\ntasks: [{name: e, type: end, listen: trigger.good}]\n", "d.yml"
    )
    assert [(w.line, w.key) for w in doc.warnings] == [(2, "retention")]
    assert "ignored" in doc.warnings[0].message
    with pytest.raises(ConfigError, match="keep-runs"):
        parse_flow_document("id: x\nretention: {keep-runs: many}\n", "d.yml")
