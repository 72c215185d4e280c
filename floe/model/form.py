"""Validation and coercion of data-form values against typed form fields (pure)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from floe.model.errors import BadRequest
from floe.model.flow import FormField

_TRUE = frozenset({"true", "yes", "1", "on"})
_FALSE = frozenset({"false", "no", "0", "off"})
_INT = re.compile(r"^[+-]?\d+$")


class FormError(BadRequest, ValueError):
    """A form value is missing or malformed; `field` names the field, `str()` is `field: message`."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message, field)
        self.message = message


def is_blank(value: Any) -> bool:
    """A value that counts as not given: absent (None) or an empty string."""
    return value is None or (isinstance(value, str) and not value.strip())


def coerce(field: FormField, value: Any) -> Any:
    """`value` as the field's type (int, bool, str), or FormError naming the field."""
    if field.type == "int":
        return _to_int(field, value)
    if field.type == "bool":
        return _to_bool(field, value)
    if field.type == "list":
        return _to_list(field, value)
    text = _to_text(field, value)
    if field.type == "choice":
        if text not in field.options:
            raise FormError(field.id, f"must be one of: {', '.join(field.options)}")
        return text
    if field.regex is not None:
        try:
            matched = re.fullmatch(field.regex, text) is not None
        except re.error as exc:
            raise FormError(field.id, f"has a bad regex: {exc}") from None
        if not matched:
            raise FormError(field.id, f"does not match {field.regex!r}")
    return text


def _to_int(field: FormField, value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and _INT.match(value.strip()):
        return int(value.strip())
    raise FormError(field.id, "must be an integer")


def _to_bool(field: FormField, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise FormError(field.id, "must be true or false")


def _to_list(field: FormField, value: Any) -> list[str]:
    """A list of strings: a JSON list, or text split at commas and line ends (blanks dropped)."""
    items = (
        value if isinstance(value, list) else re.split(r"[,\n]", value) if isinstance(value, str) else None
    )
    if items is None:
        raise FormError(field.id, "must be a list or text with one item per line or comma")
    out = [_to_text(field, v).strip() for v in items]
    if field.regex is not None:
        for item in out:
            if item and re.fullmatch(field.regex, item) is None:
                raise FormError(field.id, f"item {item!r} does not match {field.regex!r}")
    return [item for item in out if item]


def _to_text(field: FormField, value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise FormError(field.id, "must be a string")


def as_text(value: Any) -> str:
    """How a value of no configured field is passed on: as a string (floe's values were strings)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def needed(field: FormField, *, gate: bool = False) -> bool:
    """Whether a value must be given: `required`, or on a data task (gate) any field without a default."""
    return field.required or (gate and field.default is None)


def validate(
    fields: Sequence[FormField], values: Mapping[str, Any], *, partial: bool = False, gate: bool = False
) -> dict[str, Any]:
    """The coerced values of a form submission.

    A blank value (absent or "") takes the field's default when it has one; a needed field (see
    `needed`) still blank is an error unless `partial`. Keys of no field pass through as strings.
    """
    out: dict[str, Any] = {}
    known = {f.id for f in fields}
    for f in fields:
        value = values.get(f.id)
        if is_blank(value) and f.type != "string":
            value = None
        if is_blank(value):
            if f.default is not None:
                out[f.id] = f.default
            elif needed(f, gate=gate) and not partial:
                raise FormError(f.id, "is required")
            elif value is not None:
                out[f.id] = value  # an empty string for an optional string field is kept
            continue
        out[f.id] = coerce(f, value)
    for key, value in values.items():
        if key not in known:
            out[str(key)] = as_text(value)
    return out


def missing(fields: Sequence[FormField], values: Mapping[str, Any], *, gate: bool = False) -> list[str]:
    """Ids of needed fields (see `needed`) that are blank in `values` and have no default, in form order."""
    return [f.id for f in fields if needed(f, gate=gate) and f.default is None and is_blank(values.get(f.id))]
