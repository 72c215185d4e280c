"""A corpus of broken YAML files: `floe lint FILE` names FILE:LINE, exits 1, never a traceback.

The checker runs in this process for each file; the files that attack memory and time run as
`python -m floe lint FILE` processes, bounded in both, which also prove the command's exit status
and output."""

from __future__ import annotations

import contextlib
import io
import resource
import subprocess
import sys
import traceback
from pathlib import Path

import pytest

from floe.config.lint import lint as lint_files

CORPUS = Path(__file__).parent / "corpus"
LINT_BOUND = 10.0  # seconds one file may take
MEMORY_BOUND = 1 << 30  # bytes of address space the lint process may use

# file -> the lines an error may name (the first is where the fault is)
EXPECTED: dict[str, tuple[int, ...]] = {
    "bad_class.yml": (9,),
    "bad_form_field_type.yml": (13,),
    "bad_indent.yml": (12,),
    "bad_utf8.yml": (5,),
    "billion_laughs.yml": (11, 3),
    "binary_garbage.yml": (1,),
    "deep_nesting.yml": (6,),
    "duplicate_flow_ids.yml": (9,),
    "duplicate_node_ids.yml": (9,),
    "duplicate_yaml_key.yml": (6,),
    "empty.yml": (1,),
    "env_not_a_list.yml": (6,),
    "exec_opts_wrong_types.yml": (13,),
    "flowfile_unknown_key.yml": (5,),
    "flows_not_a_list.yml": (3,),
    "form_bad_regex.yml": (12,),
    "form_choice_without_options.yml": (12,),
    "form_fields_not_a_list.yml": (11,),
    "huge_version.yml": (5,),
    "list_top_level.yml": (1,),
    "merge_with_listen.yml": (9,),
    "negative_retries.yml": (8,),
    "scalar_top_level.yml": (1,),
    "tabs.yml": (7,),
    "task_is_null.yml": (8,),
    "timer_period_negative.yml": (9,),
    "unclosed_flow_mapping.yml": (6, 7),
    "unknown_common_key.yml": (3,),
    "unknown_flow_key.yml": (6,),
    "unknown_task_key.yml": (11,),
    "unknown_task_type.yml": (8,),
    "unknown_top_key.yml": (3,),
    "unknown_trigger_key.yml": (9,),
    "unterminated_string.yml": (12, 14),
    "wrong_type_good.yml": (11,),
    "wrong_type_listen.yml": (9,),
    "wrong_type_timeout.yml": (11,),
    "wrong_type_ver.yml": (5,),
}
KNOWN_BUGS: dict[str, str] = {}
BOUNDED = ("billion_laughs.yml", "deep_nesting.yml")  # linted by a process with memory and time bounds


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BOUND, MEMORY_BOUND))


def lint(path: Path) -> tuple[int | None, str]:
    """Exit status and output (stdout + stderr) of `python -m floe lint path`, run in the corpus;
    status None when it did not finish in LINT_BOUND seconds (it is killed)."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "floe", "lint", path.name],
            cwd=path.parent,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=LINT_BOUND,
            preexec_fn=_limit_memory,
        )
    except subprocess.TimeoutExpired:
        return None, f"floe lint {path.name} did not finish in {LINT_BOUND:g}s"
    return done.returncode, done.stdout + done.stderr


def lint_here(path: Path) -> tuple[int | None, str]:
    """Exit status and output of the checker `floe lint path` runs, run here in the corpus (an
    exception it raises is the traceback the command would print)."""
    out = io.StringIO()
    try:
        with contextlib.chdir(path.parent), contextlib.redirect_stderr(out):
            status = lint_files([path.name], out)
    except Exception:
        return None, out.getvalue() + traceback.format_exc()
    return status, out.getvalue()


@pytest.fixture(scope="module")
def linted() -> dict[str, tuple[int | None, str]]:
    """Every corpus file linted: the bounded ones by `python -m floe lint`, the others in process."""
    return {name: (lint if name in BOUNDED else lint_here)(CORPUS / name) for name in EXPECTED}


def test_the_corpus_is_complete() -> None:
    files = sorted(p.name for p in CORPUS.iterdir())
    assert files == sorted(EXPECTED), "every corpus file needs its expected line here"
    assert len(files) >= 20


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "name",
    [
        pytest.param(n, marks=pytest.mark.xfail(reason=KNOWN_BUGS[n])) if n in KNOWN_BUGS else n
        for n in sorted(EXPECTED)
    ],
)
def test_lint_names_file_and_line(name: str, linted: dict[str, tuple[int | None, str]]) -> None:
    status, out = linted[name]
    assert "Traceback" not in out, out
    assert status == 1, out
    errors = [ln for ln in out.splitlines() if ln.startswith(f"{name}:") and ": warning: " not in ln]
    lines = {int(ln.split(":")[1]) for ln in errors if ln.split(":")[1].isdigit()}
    assert lines & set(EXPECTED[name]), f"expected {name}:{EXPECTED[name][0]}: …, got:\n{out}"


@pytest.mark.parametrize("name", ["tabs.yml", "unknown_task_key.yml", "binary_garbage.yml"])
def test_a_host_refuses_a_broken_config_without_a_traceback(name: str, tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "floe", f"-conf={CORPUS / name}", "-pub_bind=127.0.0.1:0", "-admin=x"],
        capture_output=True,
        text=True,
        errors="replace",
        timeout=LINT_BOUND,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr and name in done.stderr, done.stderr
