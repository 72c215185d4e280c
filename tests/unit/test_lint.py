"""`floe lint`: graph levels, warnings and errors as FILE:LINE lines, exit status."""

from __future__ import annotations

import io
from pathlib import Path

from floe.config import lint

GOOD = """\
flows:
  - id: build
    ver: 2
    triggers: [{name: start, type: data}]
    tasks:
      - {name: checkout, type: git-checkout, listen: trigger.good}
      - {name: test, type: exec, listen: task.checkout.good, opts: {cmd: make test}}
      - {name: done, type: end, listen: task.tset.good}
      - {name: lost, type: end, listen: task.nobody.good}
"""

DOC = "id: d\ntasks:\n  - {name: a, type: exec, listen: trigger.good, opts: {cmd: ls}}\n"


def run(*paths: Path | str) -> tuple[int, list[str]]:
    out = io.StringIO()
    code = lint([str(p) for p in paths], out)
    return code, out.getvalue().splitlines()


def test_levels_and_warnings(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(GOOD)
    code, lines = run(path)
    assert code == 0
    assert lines == [
        f"{path}: host config, 1 flow(s), 2 warning(s)",
        "  flow build (ver 2): L0 start | L1 checkout | L2 test; not reachable from trigger.good: done, lost",
        f"{path}:8: warning: flows[0].tasks[2].listen: no node emits 'task.tset.good' "
        "(no node has id 'tset'; did you mean 'test'?)",
        f"{path}:9: warning: flows[0].tasks[3].listen: no node emits 'task.nobody.good'",
    ]


def test_flow_document(tmp_path: Path) -> None:
    path = tmp_path / "floe.yml"
    path.write_text(DOC)
    assert run(path) == (
        0,
        [f"{path}: flow-file document, 1 flow(s), 0 warning(s)", "  flow d (ver 0): L0 - | L1 a"],
    )


def test_errors_exit_1_and_other_files_still_checked(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(GOOD.replace("ver: 2", "ver: two"))
    good = tmp_path / "good.yml"
    good.write_text(DOC)
    code, lines = run(bad, tmp_path / "missing.yml", good)
    assert code == 1
    assert f"{bad}:3: flows[0].ver: must be an integer, not a string" in lines
    assert f"{bad}: 1 error(s), 2 warning(s)" in lines
    assert f"{tmp_path / 'missing.yml'}: cannot read: No such file or directory" in lines
    assert lines[-2:] == [
        f"{good}: flow-file document, 1 flow(s), 0 warning(s)",
        "  flow d (ver 0): L0 - | L1 a",
    ]


def test_bad_yaml_and_directories(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("flows:\n  - id: [x\n")
    code, lines = run(bad, tmp_path)
    assert code == 1
    assert lines[0].startswith(f"{bad}:3:1: bad YAML")
    assert any(line.startswith(f"{tmp_path}: cannot read") for line in lines)


def test_flow_file_flows_say_where_their_tasks_come_from(tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(
        "flows:\n  - id: f\n    flow-file: f.yml\n    triggers: [{name: s, type: timer, opts: {period: 5}}]\n"
    )
    assert run(path)[1][1] == "  flow f (ver 0): L0 s; tasks come from flow-file f.yml"
