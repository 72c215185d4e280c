"""Templates in opts and `when` conditions: jinja2's sandbox over a run's values, answers and outputs.

A value is data, never code: in a shell line (`shell`, `cmd`) every `{{ ... }}` is inserted shell
quoted, unless it passes through the `raw` filter. Elsewhere (`args`, `url`, `env`, ...) it is
inserted as its text. floe's own `{{ws}}` is left for the workspace expansion that follows.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import TemplateError as JinjaError
from jinja2.sandbox import SandboxedEnvironment

SHELL_KEYS = frozenset({"shell", "cmd"})  # opts read as a shell line: values go in quoted
STATIC_KEYS = frozenset({"form"})  # opts never rendered: a form is a definition, not a value
WS_MARK = "{{ws}}"


class TemplateError(ValueError):
    """A template that cannot parse or render; the message says where and why."""


@dataclass(frozen=True, slots=True)
class Raw:
    """Text that a shell line takes as it is (the `raw` filter)."""

    text: str


def text_of(value: Any) -> str:
    """How a value reads inside a string: YAML's spelling of booleans, JSON for lists and maps."""
    if isinstance(value, Raw):
        return value.text
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _quoted(value: Any) -> str:
    return value.text if isinstance(value, Raw) else shlex.quote(text_of(value))


def _env(finalize: Any) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=finalize
    )
    env.filters["raw"] = lambda v: Raw(text_of(v))
    return env


_PLAIN = _env(text_of)
_SHELL = _env(_quoted)


def is_template(text: str) -> bool:
    return "{%" in text or "{{" in text.replace(WS_MARK, "")


def _where(e: JinjaError) -> str:
    line = getattr(e, "lineno", None)
    return f"line {line} of the template: {e.message}" if line else str(e.message)


def check(text: str) -> str:
    """The syntax error of a template ("" when it parses)."""
    if not is_template(text):
        return ""
    try:
        _PLAIN.parse(text)
    except TemplateSyntaxError as e:
        return _where(e)
    return ""


def render(text: str, context: Mapping[str, Any], *, shell: bool = False) -> str:
    """`text` with its templates filled from `context` (quoted for a shell when `shell`)."""
    if not is_template(text):
        return text
    env = _SHELL if shell else _PLAIN
    ctx = {**context, "ws": Raw(WS_MARK)}
    try:
        return env.from_string(text).render(ctx)
    except JinjaError as e:
        raise TemplateError(_where(e)) from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as e:
        raise TemplateError(f"{type(e).__name__}: {e}") from None


def render_opts(opts: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Every string in `opts` rendered; `shell` and `cmd` quote what they insert."""

    def walk(value: Any, shell: bool) -> Any:
        if isinstance(value, str):
            return render(value, context, shell=shell)
        if isinstance(value, list | tuple):
            return [walk(v, shell) for v in value]
        if isinstance(value, Mapping):
            return {k: walk(v, shell) for k, v in value.items()}
        return value

    out: dict[str, Any] = {}
    for key, value in opts.items():
        try:
            out[key] = value if key in STATIC_KEYS else walk(value, key in SHELL_KEYS)
        except TemplateError as e:
            raise TemplateError(f"opt {key}: {e}") from None
    return out


def check_expression(expr: str) -> str:
    """The syntax error of a `when` expression ("" when it parses)."""
    try:
        _PLAIN.compile_expression(expr)
    except TemplateSyntaxError as e:
        return _where(e)
    return ""


def value_of(expr: str, context: Mapping[str, Any], what: str = "when") -> Any:
    """The value of an expression (`what` names it in errors: `when`, `foreach`)."""
    try:
        value = _PLAIN.compile_expression(expr, undefined_to_none=False)(**context)
        if isinstance(value, Undefined):
            str(value)  # StrictUndefined raises here, naming what is missing
        return value
    except JinjaError as e:
        raise TemplateError(f"{what} {expr!r}: {_where(e)}") from None
    except (TypeError, ValueError, ArithmeticError, LookupError) as e:
        raise TemplateError(f"{what} {expr!r}: {type(e).__name__}: {e}") from None


def evaluate(expr: str, context: Mapping[str, Any]) -> bool:
    """Whether the `when` expression holds for `context`."""
    return bool(value_of(expr, context))


def _paths(node: nodes.Node) -> Iterator[tuple[str, ...]]:
    """The dotted names (`tasks.build.outputs.version`) a template or expression reads."""
    for n in node.find_all((nodes.Getattr, nodes.Getitem)):
        parts: list[str] = []
        cur: nodes.Node = n
        while isinstance(cur, nodes.Getattr | nodes.Getitem):
            if isinstance(cur, nodes.Getattr):
                parts.append(cur.attr)
            elif isinstance(cur.arg, nodes.Const) and isinstance(cur.arg.value, str):
                parts.append(cur.arg.value)
            else:
                parts.clear()
            cur = cur.node
        if isinstance(cur, nodes.Name):
            yield (cur.name, *reversed(parts))


def output_refs(text: str, *, expression: bool = False) -> set[tuple[str, str]]:
    """The `(task, output)` pairs that `tasks.<task>.outputs.<output>` references in `text` name."""
    try:
        if expression:
            tree: nodes.Node = _PLAIN.parse("{{ " + text + " }}")
        elif is_template(text):
            tree = _PLAIN.parse(text)
        else:
            return set()
    except TemplateSyntaxError:
        return set()
    return {(p[1], p[3]) for p in _paths(tree) if len(p) >= 4 and p[0] == "tasks" and p[2] == "outputs"}
