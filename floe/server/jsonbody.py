"""Request bodies as JSON: parsed once, refused (400) when too deep, not finite or not encodable text."""

from __future__ import annotations

import json
from typing import Any

from floe.model.errors import BadRequest

MAX_DEPTH = 64  # nesting of arrays and objects; the deepest document floe sends itself is about 12


def _no_constant(name: str) -> Any:
    raise BadRequest(f"body is not valid JSON: {name} is not a number")


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise BadRequest(f"body is not valid JSON: {text[:40]} is out of range")
    return value


def check(value: Any) -> None:
    """Raise BadRequest unless `value` nests at most MAX_DEPTH deep and all its text, keys
    included, is encodable as UTF-8 (a JSON `"\\ud800"` escape decodes to a lone surrogate)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _text(item)
        elif isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise BadRequest(f"body nests deeper than {MAX_DEPTH} levels")
            for key in item if isinstance(item, dict) else ():
                _text(key)
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))


def _text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise BadRequest("body has text that is not valid Unicode (a lone surrogate)") from e


def parse(raw: bytes | str) -> Any:
    """The JSON value of `raw`, checked by `check`; BadRequest for anything else."""
    try:
        value = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except RecursionError as e:
        raise BadRequest(f"body nests deeper than {MAX_DEPTH} levels") from e
    except (ValueError, UnicodeDecodeError) as e:
        raise BadRequest(f"body is not valid JSON: {e}") from e
    check(value)
    return value
