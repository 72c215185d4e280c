"""The one constant-time comparison of secrets: any text compares, and distinct texts never equal."""

from __future__ import annotations

import pytest

from floe.model.constant_time import same_secret


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("token", "token", True),
        ("token", "tokem", False),
        ("", "", True),
        ("", "x", False),
        ("é" * 8, "é" * 8, True),
        ("é", "e", False),
        ("\udcc3\udca9", "é", False),  # raw bytes of é, as surrogateescape would have read them
        ("\ud800", "\ud800", True),  # a lone surrogate that surrogateescape cannot encode at all
        ("\ud800", "\ud801", False),
    ],
)
def test_same_secret(a: str, b: str, same: bool) -> None:
    assert same_secret(a, b) is same
