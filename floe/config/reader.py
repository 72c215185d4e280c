"""Typed, line-aware access to one YAML mapping: every fault is reported, never raised."""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from floe.config.errors import Report
from floe.config.yamlio import PlainError, item_line, key_line, own_line, plain

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(text: str) -> float | None:
    """Seconds from `"2s"`, `"500ms"`, `"1m"`, `"1h"` or a bare number; None when malformed."""
    m = _DURATION.match(text)
    return None if m is None else float(m.group(1)) * _UNIT[m.group(2)]


def suggest(word: str, choices: Collection[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


class Section:
    """A YAML mapping under check, with its dotted path (e.g. `flows[0].tasks[2]`) for messages."""

    def __init__(self, raw: Mapping[Any, Any], path: str, report: Report) -> None:
        self.raw = raw
        self.path = path
        self.report = report
        self.line = own_line(raw)

    @classmethod
    def of(cls, raw: Any, path: str, report: Report, line: int) -> Section | None:
        if not isinstance(raw, Mapping):
            report.error(line, path, f"must be a mapping, not {kind(raw)}")
            return None
        return cls(raw, path, report)

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def line_of(self, key: str) -> int:
        return key_line(self.raw, key) or self.line

    def has(self, key: str) -> bool:
        return self.raw.get(key) is not None

    def error(self, key: str, message: str) -> None:
        self.report.error(self.line_of(key), self.key_path(key), message)

    def warn(self, key: str, message: str) -> None:
        self.report.warn(self.line_of(key), self.key_path(key), message)

    def check_keys(self, allowed: Collection[str], what: str, *, warn: bool = False) -> None:
        """Report every key not in `allowed` as an unknown key of `what` (an error, or a warning)."""
        for key in self.raw:
            if isinstance(key, str) and key in allowed:
                continue
            name = key if isinstance(key, str) else repr(plain_or_str(key))
            line = key_line(self.raw, key) or self.line
            if warn:
                self.report.warn(
                    line, self.key_path(name), f"unknown key in {what}, ignored{suggest(name, allowed)}"
                )
            else:
                self.report.error(line, self.key_path(name), f"unknown key in {what}{suggest(name, allowed)}")

    def value(self, key: str) -> Any:
        """The plain value of `key`, None when absent, null or not convertible (reported)."""
        raw = self.raw.get(key)
        if raw is None:
            return None
        try:
            return plain(raw)
        except PlainError as exc:
            self.error(key, str(exc))
            return None

    def string(self, key: str) -> str | None:
        v = self.value(key)
        if v is None or isinstance(v, str):
            return v
        self.error(key, f"must be a string, not {kind(v)}")
        return None

    def choice(self, key: str, options: Collection[str]) -> str | None:
        v = self.string(key)
        if v is not None and v not in options:
            self.error(key, f"{v!r} is not one of: {', '.join(sorted(options))}{suggest(v, options)}")
            return None
        return v

    def integer(self, key: str, minimum: int | None = None) -> int | None:
        v = self.value(key)
        if v is None:
            return None
        if isinstance(v, bool) or not isinstance(v, int):
            self.error(key, f"must be an integer, not {kind(v)}")
            return None
        if minimum is not None and v < minimum:
            self.error(key, f"must be at least {minimum}, not {v}")
            return None
        return v

    def number(self, key: str, *, durations: bool = False, positive: bool = False) -> float | None:
        """A number of seconds (or with `durations`, a string like "2s", "500ms", "1m")."""
        v = self.value(key)
        if v is None:
            return None
        seconds: float | None = None
        if isinstance(v, int | float) and not isinstance(v, bool):
            seconds = float(v)
        elif durations and isinstance(v, str):
            seconds = parse_duration(v)
        if seconds is None or seconds != seconds or seconds in (float("inf"), float("-inf")):
            expected = (
                'a number of seconds or a duration like "2s", "500ms", "1m"' if durations else "a number"
            )
            self.error(key, f"must be {expected}, not {v!r}")
            return None
        if seconds < 0 or (positive and seconds == 0):
            self.error(key, f"must be {'more than' if positive else 'at least'} 0, not {v!r}")
            return None
        return seconds

    def boolean(self, key: str) -> bool | None:
        v = self.value(key)
        if v is None or isinstance(v, bool):
            return v
        self.error(key, f"must be true or false, not {kind(v)}")
        return None

    def strings(self, key: str, *, allow_single: bool = False) -> tuple[str, ...] | None:
        """A list of strings (or with `allow_single`, one string meaning a list of one)."""
        raw = self.raw.get(key)
        v = self.value(key)
        if v is None:
            return None
        if allow_single and isinstance(v, str):
            return (v,)
        if not isinstance(v, list):
            self.error(key, f"must be a list of strings, not {kind(v)}")
            return None
        ok = True
        for i, item in enumerate(v):
            if not isinstance(item, str):
                self.report.error(
                    item_line(raw, i) or self.line_of(key),
                    f"{self.key_path(key)}[{i}]",
                    f"must be a string, not {kind(item)}",
                )
                ok = False
        return tuple(v) if ok else None

    def section(self, key: str) -> Section | None:
        raw = self.raw.get(key)
        if raw is None:
            return None
        return Section.of(raw, self.key_path(key), self.report, self.line_of(key))

    def sections(self, key: str) -> Iterator[tuple[int, Section]]:
        """Each mapping of the list under `key` with its index; non-mappings are reported."""
        raw = self.raw.get(key)
        if raw is None:
            return
        if not isinstance(raw, list):
            self.error(key, f"must be a list, not {kind(raw)}")
            return
        for i, item in enumerate(raw):
            sec = Section.of(
                item, f"{self.key_path(key)}[{i}]", self.report, item_line(raw, i) or self.line_of(key)
            )
            if sec is not None:
                if not sec.line:
                    sec.line = item_line(raw, i)
                yield i, sec


def kind(value: Any) -> str:
    """A reader's name for the YAML type of `value` (a plain value, or a round-trip one: nothing is
    converted, so an aliased value is never expanded here)."""
    if value is None:
        return "null"
    if isinstance(value, bool) or type(value).__name__ == "ScalarBoolean":
        return "a boolean"
    if isinstance(value, dt.datetime | dt.date) or isinstance(getattr(value, "value", None), str):
        return "a string"  # plain() gives a date as ISO text, a tagged scalar as its text
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def plain_or_str(value: Any) -> Any:
    """The plain value of `value`, or a short stand-in when it cannot be converted (a container is
    never turned into text: `str()` of a round-trip value expands every alias in it)."""
    try:
        return plain(value)
    except PlainError:
        if isinstance(value, Mapping):
            return "{...}"
        if isinstance(value, list | tuple | set):
            return "[...]"
        return str(value)
