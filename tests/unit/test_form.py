"""Data-form validation: coercion per type, required and defaults, gates, unknown keys passed on."""

from __future__ import annotations

from typing import Any

import pytest

from floe.model.flow import FormField
from floe.model.form import FormError, missing, validate

S = FormField("name")
REQ = FormField("who", required=True)
N = FormField("times", type="int")
B = FormField("ok", type="bool")
C = FormField("env", type="choice", options=("dev", "prod"))
R = FormField("tag", regex=r"v\d+")
D = FormField("branch", default="master")
DN = FormField("n", type="int", required=True, default=3)


@pytest.mark.parametrize(
    ("field", "value", "want"),
    [
        (S, "x", "x"),
        (S, 12, "12"),
        (S, True, "true"),
        (N, 12, 12),
        (N, "12", 12),
        (N, " -3 ", -3),
        (N, 4.0, 4),
        (B, True, True),
        (B, "true", True),
        (B, "Yes", True),
        (B, "on", True),
        (B, "1", True),
        (B, 1, True),
        (B, "false", False),
        (B, "no", False),
        (B, "OFF", False),
        (B, "0", False),
        (B, 0, False),
        (C, "prod", "prod"),
        (R, "v12", "v12"),
        (D, "dev", "dev"),
        (D, "", "master"),
        (D, None, "master"),
        (DN, "", 3),
    ],
)
def test_coercion(field: FormField, value: Any, want: Any) -> None:
    got = validate([field], {field.id: value})
    assert got == {field.id: want}
    assert type(got[field.id]) is type(want)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (N, "twelve", "times: must be an integer"),
        (N, True, "times: must be an integer"),
        (N, 1.5, "times: must be an integer"),
        (N, "1.5", "times: must be an integer"),
        (B, "maybe", "ok: must be true or false"),
        (B, 2, "ok: must be true or false"),
        (C, "test", "env: must be one of: dev, prod"),
        (R, "x12", "tag: does not match"),
        (R, "v12x", "tag: does not match"),
        (S, ["a"], "name: must be a string"),
        (REQ, "", "who: is required"),
        (REQ, None, "who: is required"),
    ],
)
def test_errors_name_the_field(field: FormField, value: Any, message: str) -> None:
    values = {} if value is None else {field.id: value}
    with pytest.raises(FormError) as err:
        validate([field], values)
    assert str(err.value).startswith(message)
    assert err.value.field == field.id


def test_optional_blank_values() -> None:
    assert validate([S, N, B], {"name": "", "times": "", "ok": None}) == {"name": ""}
    assert validate([S, N], {}) == {}


def test_unknown_keys_pass_through_as_strings() -> None:
    got = validate([S], {"name": "a", "extra": 5, "flag": False, "none": None, "list": [1, "b"]})
    assert got == {"name": "a", "extra": "5", "flag": "false", "none": "", "list": '[1, "b"]'}


def test_partial_skips_required_but_still_checks_types() -> None:
    assert validate([REQ, N], {"times": "2"}, partial=True) == {"times": 2}
    with pytest.raises(FormError, match="times: must be an integer"):
        validate([REQ, N], {"times": "x"}, partial=True)


def test_gate_needs_every_field_without_a_default() -> None:
    fields = [S, D, DN, REQ]
    assert missing(fields, {}) == ["who"]
    assert missing(fields, {}, gate=True) == ["name", "who"]
    assert missing(fields, {"name": "x", "who": " "}, gate=True) == ["who"]
    assert missing(fields, {"name": "x", "who": "me"}, gate=True) == []
    with pytest.raises(FormError, match="name: is required"):
        validate(fields, {"who": "me"}, gate=True)
    assert validate(fields, {"who": "me", "name": "n"}, gate=True) == {
        "name": "n",
        "branch": "master",
        "n": 3,
        "who": "me",
    }


def test_a_bad_regex_is_a_form_error() -> None:
    with pytest.raises(FormError, match="bad regex"):
        validate([FormField("x", regex="[a")], {"x": "a"})
