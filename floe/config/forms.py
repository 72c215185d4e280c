"""Parsing the typed fields of a data node's `opts.form.fields`."""

from __future__ import annotations

import re
from typing import Any

from floe.config.keys import FIELD_ALIASES, FIELD_KEYS, FIELD_TYPES
from floe.config.reader import Section, kind
from floe.model.flow import FormField
from floe.model.form import FormError, coerce


def parse_fields(opts: Section) -> tuple[FormField, ...]:
    """The fields of `opts.form.fields`; faults are reported on the opts' report."""
    form = opts.section("form")
    if form is None:
        return ()
    form.string("title")
    out: list[FormField] = []
    seen: dict[str, int] = {}
    for _, sec in form.sections("fields"):
        field = _field(sec)
        if field is None:
            continue
        if field.id in seen:
            sec.error("id", f"field id {field.id!r} is already used on line {seen[field.id]}")
            continue
        seen[field.id] = sec.line_of("id")
        out.append(field)
    return tuple(out)


def _field(sec: Section) -> FormField | None:
    sec.check_keys(FIELD_KEYS, "a form field", warn=True)
    field_id = sec.string("id")
    if not field_id or not field_id.strip():
        if not sec.has("id"):
            sec.report.error(sec.line, sec.path, "a form field needs an id")
        elif field_id is not None:
            sec.error("id", "must not be empty")
        return None
    prompt = sec.string("prompt") or ""
    ftype = sec.choice("type", FIELD_TYPES)
    if ftype is None and sec.has("type"):
        return None
    ftype = FIELD_ALIASES.get(ftype or "string", ftype or "string")
    required = bool(sec.boolean("required"))
    regex = _regex(sec, ftype)
    options = _options(sec, ftype)
    if ftype == "choice" and not options:
        sec.report.error(
            sec.line_of("options"), sec.key_path("options"), "a choice field needs a non-empty options list"
        )
        return None
    field = FormField(field_id.strip(), prompt, ftype, required, regex, options)
    return _with_default(sec, field)


def _regex(sec: Section, ftype: str) -> str | None:
    regex = sec.string("regex")
    if regex is None:
        return None
    try:
        re.compile(regex)
    except re.error as exc:
        sec.error("regex", f"bad regular expression: {exc}")
        return None
    if ftype not in ("string", "list"):
        sec.warn(
            "regex",
            f"regex applies only to string fields (and the items of list fields), ignored on a {ftype} field",
        )
        return None
    return regex


def _options(sec: Section, ftype: str) -> tuple[str, ...]:
    options = sec.value("options")
    if options is None:
        return ()
    if not isinstance(options, list) or not all(isinstance(o, str | int | float) for o in options):
        sec.error("options", f"must be a list of strings, not {kind(options)}")
        return ()
    if ftype != "choice":
        sec.warn("options", f"options apply only to choice fields, ignored on a {ftype} field")
        return ()
    return tuple(_text(o) for o in options)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _with_default(sec: Section, field: FormField) -> FormField | None:
    key = "default" if sec.has("default") else "value"
    if sec.has("default") and sec.has("value"):
        sec.warn("value", "both default and value (floe's name for the default) are set; default is used")
    raw = sec.value(key)
    if raw is None:
        return field
    if isinstance(raw, dict | list):
        sec.error(key, f"must be a single value, not {kind(raw)}")
        return None
    try:
        default = coerce(field, raw)
    except FormError as exc:
        sec.error(key, f"default {raw!r} is not valid: {exc.message}")
        return None
    return FormField(field.id, field.prompt, field.type, field.required, field.regex, field.options, default)
