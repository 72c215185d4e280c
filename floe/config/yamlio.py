"""Reading YAML text with ruamel (round-trip, for line numbers) and turning it into plain values."""

from __future__ import annotations

import datetime as dt
import json
import re
import warnings
from collections.abc import Mapping
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedBase

from floe.config.errors import Report
from floe.config.tabs import TabScanner

MAX_NODES = 200_000  # plain values built from one file (guards against alias bombs)
MAX_DEPTH = 64
SHOWN_WIDTH = 200  # characters of the offending line shown with a syntax error
_LINE_BREAK = re.compile("\r\n|[\n\r\x85\u2028\u2029]")
EMPTY_FILE = "file is empty: expected a host config (common/flows) or a flow-file document"


class PlainError(ValueError):
    """A YAML value cannot become a plain JSON-compatible value."""


def read_yaml(text: str | bytes, report: Report) -> Any:
    """Parse `text` round-trip; a syntax error is reported (with its line) and gives None."""
    if isinstance(text, bytes):
        raw = text.removeprefix(b"\xef\xbb\xbf")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line, column = _byte_position(raw, exc.start)
            report.error(line, "", f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {column})")
            return None
    text = text.removeprefix("\ufeff")
    if is_empty(text):
        report.error(1, "", EMPTY_FILE)
        return None
    too_deep = _flow_too_deep(text)
    if too_deep:
        report.error(too_deep, "", f"YAML nested deeper than {MAX_DEPTH} levels")
        return None
    yaml = YAML(typ="rt")
    yaml.Scanner = TabScanner  # tabs inside a line load, as in Go's YAML
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = yaml.load(text)
    except RecursionError:
        report.error(0, "", "YAML nested too deeply")
        return None
    except Exception as exc:  # ruamel raises many kinds; every one is bad input here
        line, column = _mark(exc)
        shown = _source_line(text, line)
        report.error(line, "", _syntax_message(exc, shown, column), column=column, text=shown)
        return None
    for w in caught:
        report.warn(_mark_line(w.message), "", "YAML: " + _one_line(w.message))
    if not _check_aliases(data, report):
        return None
    return data


def is_empty(text: str) -> bool:
    """True for text with nothing but blanks, comments and document markers (`---`, `...`)."""
    for line in text.splitlines():
        content = line.strip()
        if content and not content.startswith("#") and content not in ("---", "..."):
            return False
    return True


def _byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in bytes) of byte `offset` of `data`."""
    line_start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - line_start + 1


def _flow_too_deep(text: str) -> int:
    """The 1-based line where the nesting of `[`/`{` (quotes ignored) first exceeds MAX_DEPTH, 0 when
    it never does: ruamel's scanner is quadratic in it."""
    depth = 0
    line = 1
    for ch in text:
        if ch == "\n":
            line += 1
        elif ch in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return line
        elif ch in "]}" and depth:
            depth -= 1
    return 0


def _check_aliases(data: Any, report: Report) -> bool:
    """Report every top-level value (or the whole document) whose alias expansion exceeds MAX_NODES
    values; False when one does. Linear in the size of the file: sizes are memoized per node."""
    sizes = _Sizes()
    try:
        if sizes.of(data) <= MAX_NODES:
            return True
    except RecursionError:
        report.error(own_line(data) or 1, "", "YAML nested too deeply")
        return False
    message = f"too many aliases: the value expands to more than {MAX_NODES} values"
    if sizes.recursive:
        message = "too many aliases: a value contains itself (recursive alias)"
    if isinstance(data, Mapping):
        for key, value in data.items():
            if sizes.of(value) > MAX_NODES:
                name = key if isinstance(key, str) else "(key)"
                report.error(key_line(data, key) or own_line(value), name, message)
    elif isinstance(data, list):
        for i, value in enumerate(data):
            if sizes.of(value) > MAX_NODES:
                report.error(own_line(value) or item_line(data, i), f"[{i}]", message)
    if not report.failed:
        report.error(own_line(data) or 1, "", message)
    return False


class _Sizes:
    """How many plain values a YAML value expands to (aliases counted every time they are used),
    capped at MAX_NODES + 1; a value that contains itself counts as too many."""

    def __init__(self) -> None:
        self.memo: dict[int, int] = {}
        self.active: set[int] = set()
        self.keep: list[object] = []  # keeps memoized ids alive
        self.recursive = False

    def of(self, value: Any) -> int:
        if not isinstance(value, Mapping | list | tuple | set):
            return 1
        key = id(value)
        if key in self.memo:
            return self.memo[key]
        if key in self.active:
            self.recursive = True
            return MAX_NODES + 1
        self.active.add(key)
        total = 1
        try:
            children = [*value.keys(), *value.values()] if isinstance(value, Mapping) else list(value)
            for child in children:
                total = min(total + self.of(child), MAX_NODES + 1)
                if total > MAX_NODES:
                    break
        finally:
            self.active.discard(key)
        self.memo[key] = total
        self.keep.append(value)
        return total


def _mark_line(exc: object) -> int:
    return _mark(exc)[0]


def _mark(exc: object) -> tuple[int, int]:
    """The 1-based line and column of a ruamel error or warning ((0, 0) when unknown): where the
    problem is, but where the token starts for an unterminated quoted string (its context mark;
    the problem is at end of file)."""
    attrs = ("problem_mark", "context_mark")
    context = getattr(exc, "context", None)
    if isinstance(context, str) and "quoted scalar" in context:
        attrs = ("context_mark", "problem_mark")
    for attr in attrs:
        mark = getattr(exc, attr, None)
        line, column = getattr(mark, "line", None), getattr(mark, "column", None)
        if isinstance(line, int):
            return line + 1, column + 1 if isinstance(column, int) else 0
    return 0, 0


def _source_line(text: str, line: int) -> str:
    """Line `line` (1-based) of `text` as YAML counts lines, cut at SHOWN_WIDTH; "" past the end."""
    lines = _LINE_BREAK.split(text, maxsplit=line)
    return lines[line - 1][:SHOWN_WIDTH] if 0 < line <= len(lines) else ""


def _syntax_message(exc: object, line: str, column: int) -> str:
    """ruamel's message in one line; a tab in the indentation says so plainly."""
    if "'\\t'" in _one_line(exc) and not line[: max(column - 1, 0)].strip(" \t"):
        return "bad YAML: a tab in the indentation (YAML indents with spaces)"
    return "bad YAML: " + _one_line(exc)


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
            raise PlainError(f"too many aliases: more than {MAX_NODES} values")
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
