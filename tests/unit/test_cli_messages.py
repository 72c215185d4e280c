"""What the `floe` command says: its version, lint's help, YAML syntax errors with column and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from floe import __version__
from floe.cli import main

TAB_INDENT = "common:\n  store-type: memory\nflows:\n  - id: a\n\tver: 1\n"
TWO_COLONS = "common:\n  store-type: memory\n  x: y: z\n"


def exit_of(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[object, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return done.value.code, out, err


@pytest.mark.parametrize("flag", ["--version", "-version"])
def test_version(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    assert exit_of(capsys, flag) == (0, f"floe {__version__}\n", "")


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_lint_help_is_help_not_a_file_name(capsys: pytest.CaptureFixture[str], flag: str) -> None:
    code, out, _ = exit_of(capsys, "lint", flag)
    assert code == 0 and out.startswith("usage: floe lint [-h] FILE [FILE ...]")
    assert "cannot read" not in out


def test_lint_without_files_says_how_to_call_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = exit_of(capsys, "lint")
    assert code == 2 and "usage: floe lint" in err and "FILE" in err


def test_a_yaml_syntax_error_is_file_line_column_with_the_line_shown(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "c.yml"
    path.write_text(TWO_COLONS)
    code, out, _ = exit_of(capsys, "lint", str(path))
    assert code == 1
    assert out.splitlines()[:3] == [
        f"{path}:3:7: bad YAML: mapping values are not allowed here",
        "    3 |   x: y: z",
        "      |       ^",
    ]


def test_a_tab_in_the_indentation_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text(TAB_INDENT)
    _, out, _ = exit_of(capsys, "lint", str(path))
    assert out.splitlines()[:3] == [
        f"{path}:5:1: bad YAML: a tab in the indentation (YAML indents with spaces)",
        "    5 | \tver: 1",
        "      | ^",
    ]


def test_a_host_with_a_syntax_error_shows_the_line_too(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "c.yml"
    path.write_text(TWO_COLONS)
    code, _, _ = exit_of(capsys, f"-conf={path}")
    assert code == f"floe: bad config:\n{path}:3:7: bad YAML: mapping values are not allowed here\n" + (
        "    3 |   x: y: z\n      |       ^"
    )


def test_a_long_offending_line_is_shown_cut(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "c.yml"
    path.write_text("common:\n  store-type: memory\n  x: " + "y" * 1000 + ": z\n")
    _, out, _ = exit_of(capsys, "lint", str(path))
    shown = out.splitlines()
    assert shown[1] == "    3 |   x: " + "y" * 195
    assert shown[2] == f"{path}: 1 error(s), 0 warning(s)"  # the column is past the part shown: no caret
