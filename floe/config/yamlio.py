"""Reading YAML text with ruamel (round-trip, for line numbers) and turning it into plain values."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase

from floe.config.errors import Report

MAX_NODES = 200_000  # plain values built from one file (guards against alias bombs)
MAX_DEPTH = 64


class PlainError(ValueError):
    """A YAML value cannot become a plain JSON-compatible value."""


def read_yaml(text: str | bytes, report: Report) -> Any:
    """Parse `text` round-trip; a syntax error is reported (with its line) and gives None."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            report.error(0, "", f"not UTF-8 text: {exc.reason} at byte {exc.start}")
            return None
    if _flow_depth(text) > MAX_DEPTH:
        report.error(0, "", f"YAML nested deeper than {MAX_DEPTH} levels")
        return None
    yaml = YAML(typ="rt")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = yaml.load(text)
    except RecursionError:
        report.error(0, "", "YAML nested too deeply")
        return None
    except Exception as exc:  # ruamel raises many kinds; every one is bad input here
        report.error(_mark_line(exc), "", "bad YAML: " + _one_line(exc))
        return None
    for w in caught:
        report.warn(_mark_line(w.message), "", "YAML: " + _one_line(w.message))
    return data


def _flow_depth(text: str) -> int:
    """The deepest nesting of `[`/`{` (quotes ignored): ruamel's scanner is quadratic in it."""
    depth = deepest = 0
    for ch in text:
        if ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}" and depth:
            depth -= 1
    return deepest


def _mark_line(exc: object) -> int:
    for attr in ("problem_mark", "context_mark"):
        mark = getattr(exc, attr, None)
        line = getattr(mark, "line", None)
        if isinstance(line, int):
            return line + 1
    return 0


def _one_line(exc: object) -> str:
    problem = getattr(exc, "problem", None)
    context = getattr(exc, "context", None)
    if isinstance(problem, str) and problem:
        text = f"{context} {problem}" if isinstance(context, str) and context else problem
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())


def key_line(node: object, key: object) -> int:
    """1-based line of `key` in a round-trip mapping (the mapping's own line when unknown)."""
    if isinstance(node, CommentedBase):
        try:
            return int(node.lc.key(key)[0]) + 1
        except (KeyError, TypeError, AttributeError, IndexError):
            return own_line(node)
    return 0


def item_line(node: object, index: int) -> int:
    """1-based line of item `index` of a round-trip sequence."""
    if isinstance(node, CommentedBase):
        try:
            return int(node.lc.item(index)[0]) + 1
        except (KeyError, TypeError, AttributeError, IndexError):
            return own_line(node)
    return 0


def own_line(node: object) -> int:
    if isinstance(node, CommentedBase):
        line = getattr(node.lc, "line", None)
        if isinstance(line, int):
            return line + 1
    return 0


def plain(value: Any) -> Any:
    """A JSON-compatible copy of a YAML value (dict, list, str, int, float, bool, None)."""
    return _Plain().convert(value, 0)


class _Plain:
    def __init__(self) -> None:
        self.count = 0
        self.stack: set[int] = set()

    def convert(self, value: Any, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            raise PlainError(f"more than {MAX_NODES} values (alias expansion?)")
        if depth > MAX_DEPTH:
            raise PlainError(f"nested deeper than {MAX_DEPTH} levels")
        if value is None or isinstance(value, bool):
            return value
        if type(value).__name__ == "ScalarBoolean":
            return bool(value)
        if isinstance(value, str):
            return str(value)
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, dt.datetime | dt.date):
            return value.isoformat()
        if isinstance(value, Mapping | list | tuple | set):
            if id(value) in self.stack:
                raise PlainError("a value contains itself (recursive alias)")
            self.stack.add(id(value))
            try:
                if isinstance(value, Mapping):
                    return {self.key(k, depth): self.convert(v, depth + 1) for k, v in value.items()}
                return [self.convert(v, depth + 1) for v in value]
            finally:
                self.stack.discard(id(value))
        inner = getattr(value, "value", None)  # TaggedScalar
        if isinstance(inner, str):
            return str(inner)
        return str(value)

    def key(self, key: Any, depth: int) -> str:
        if isinstance(key, str):
            return str(key)
        if isinstance(key, bool) or key is None:
            return json.dumps(key)
        if isinstance(key, int | float):
            return str(key)
        return json.dumps(self.convert(key, depth + 1))
