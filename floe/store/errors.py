"""Errors raised by RunStore backends."""

from __future__ import annotations


class StoreError(Exception):
    """The store cannot do what was asked: not open, a newer schema, or writes failing too long."""
