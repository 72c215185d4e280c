"""The `$FLOE_OUTPUT` file: a fresh name in a private directory, made by the task that writes it."""

from __future__ import annotations

import stat

from floe.nodes.outputs import output_file


def test_the_output_file_is_made_by_the_task_in_a_directory_only_this_user_enters() -> None:
    warned: list[str] = []
    with output_file(warned.append) as (path, read), output_file(warned.append) as (other, _):
        assert path != other and path.parent == other.parent
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert not path.exists()  # no file is made for a task that writes no outputs
        assert read() == {}
        path.write_text("version=1.2.3\n")
        assert read() == {"version": "1.2.3"}
    assert not path.exists() and warned == []


def test_an_output_file_that_cannot_be_read_is_warned_of() -> None:
    warned: list[str] = []
    with output_file(warned.append) as (path, read):
        path.mkdir()
        assert read() == {}
        path.rmdir()
    assert len(warned) == 1 and warned[0].startswith("FLOE_OUTPUT: ")
