"""Checking a 5-field cron expression, with messages that name the faulty field."""

from __future__ import annotations

import re

from croniter import croniter

FIELDS = (  # name, lowest, highest value
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
SHAPE = "minute hour day-of-month month day-of-week"
_NUMBER = re.compile(r"\d+")


def cron_problem(expr: str) -> str:
    """Why `expr` is not a cron expression a timer can run, "" when it is one: the number of
    fields, a value out of its field's range (`hour 25 is out of range 0-23`), a zero step, or
    the field croniter cannot read."""
    fields = expr.split()
    if len(fields) != len(FIELDS):
        return f"has {len(fields)} fields; a cron expression has 5: {SHAPE}"
    if _valid(expr):
        return ""
    for text, (name, low, high) in zip(fields, FIELDS, strict=True):
        for item in text.split(","):
            part, _, step = item.partition("/")
            if step and _NUMBER.fullmatch(step) and int(step) == 0:
                return f"{name} {item!r}: a step of 0 never repeats"
            for bound in part.split("-"):
                if _NUMBER.fullmatch(bound) and not low <= int(bound) <= high:
                    return f"{name} {int(bound)} is out of range {low}-{high}"
    for i, (name, _, _) in enumerate(FIELDS):  # the first field that spoils an otherwise plain expression
        probe = ["*"] * len(FIELDS)
        probe[i] = fields[i]
        if not _valid(" ".join(probe)):
            return f"{name} {fields[i]!r} is not a number, name, range, list or step"
    return f"is not a cron expression ({SHAPE})"


def _valid(expr: str) -> bool:
    try:
        return bool(croniter.is_valid(expr))
    except Exception:  # croniter's own checks may raise on odd input; any failure means invalid
        return False
