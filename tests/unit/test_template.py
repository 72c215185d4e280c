"""Templates and `when` conditions: values stay data, errors say where, references are found."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from floe.model.template import (
    TemplateError,
    check,
    check_expression,
    evaluate,
    output_refs,
    render,
    render_opts,
)

CTX = {
    "values": {"branch": "release/1.2", "jobs": 4, "fast": False, "who": "ada"},
    "tasks": {"build": {"result": "good", "outputs": {"version": "1.2.3"}}},
    "run": {"id": "h1-7", "flow": "build"},
}

HOSTILE = ["; rm -rf /", "$(touch pwned)", "`touch pwned`", "a\nb", "'quoted'", '"dq" $HOME', "*"]


def test_plain_opts_get_the_text_of_values() -> None:
    assert render("{{ values.branch }}", CTX) == "release/1.2"
    assert render("v{{ tasks.build.outputs.version }}-{{ values.jobs }}", CTX) == "v1.2.3-4"
    assert render("{{ values.fast }}", CTX) == "false"
    assert render("no template here $HOME", CTX) == "no template here $HOME"


def test_floe_ws_is_left_for_the_workspace_expansion() -> None:
    assert render("{{ws}}/src", CTX) == "{{ws}}/src"
    assert render("{{ws}}/{{ values.branch }}", CTX) == "{{ws}}/release/1.2"
    assert render("cd {{ ws }} && echo {{ values.who }}", CTX, shell=True) == "cd {{ws}} && echo ada"


@pytest.mark.parametrize("value", HOSTILE)
def test_a_value_in_a_shell_line_is_one_quoted_word(value: str, tmp_path: object) -> None:
    line = render("printf '%s' {{ values.x }}", {"values": {"x": value}}, shell=True)
    assert shlex.split(line) == ["printf", "%s", value]
    out = subprocess.run(["bash", "-c", line], capture_output=True, text=True, cwd=str(tmp_path), check=True)
    assert out.stdout == value


def test_raw_is_the_explicit_way_to_insert_shell_code() -> None:
    assert render("{{ values.x | raw }}", {"values": {"x": "a && b"}}, shell=True) == "a && b"


def test_render_opts_quotes_only_shell_lines_and_never_touches_forms() -> None:
    opts = {
        "shell": "echo {{ values.branch }}",
        "args": ["--branch", "{{ values.branch }}"],
        "env": ["B={{ values.branch }}"],
        "form": {"title": "{{ not rendered }}"},
        "period": 5,
    }
    out = render_opts(opts, {"values": {"branch": "a b"}})
    assert out == {
        "shell": "echo 'a b'",
        "args": ["--branch", "a b"],
        "env": ["B=a b"],
        "form": {"title": "{{ not rendered }}"},
        "period": 5,
    }


def test_errors_name_the_opt_and_the_cause() -> None:
    with pytest.raises(TemplateError, match=r"opt url: .*'dict object' has no attribute 'nope'"):
        render_opts({"url": "{{ values.nope }}"}, CTX)
    assert "line 2" in check("ok\n{{ values.branch ")
    assert check("{{ values.branch }}") == ""


def test_the_sandbox_refuses_python_internals() -> None:
    with pytest.raises(TemplateError):
        render("{{ values.__class__.__mro__[1].__subclasses__() }}", CTX)
    with pytest.raises(TemplateError):
        render("{{ ''.__class__.__base__.__subclasses__() }}", CTX)


def test_when_expressions() -> None:
    assert evaluate("values.branch.startswith('release/')", CTX)
    assert not evaluate("values.fast", CTX)
    assert evaluate("tasks.build.result == 'good' and values.jobs > 2", CTX)
    with pytest.raises(TemplateError, match=r"when 'values\.nope'"):
        evaluate("values.nope", CTX)
    assert check_expression("values.branch ==") != ""
    assert check_expression("values.branch == 'main'") == ""


def test_output_references_are_found_for_lint() -> None:
    text = "{{ tasks.build.outputs.version }} {{ tasks['pkg'].outputs['file'] }} {{ values.x }}"
    assert output_refs(text) == {("build", "version"), ("pkg", "file")}
    assert output_refs("tasks.test.outputs.ok and values.x", expression=True) == {("test", "ok")}
    assert output_refs("plain") == set()
