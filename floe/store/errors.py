"""Errors raised by RunStore backends (in the tree of floe/model/errors.py)."""

from __future__ import annotations

from floe.model.errors import Damaged, Unavailable


class StoreError(Unavailable):
    """The store cannot do what was asked: not open, a newer schema, or writes failing too long."""


class DamagedRecord(Damaged, StoreError):
    """One stored record of run `run_id` cannot be read (altered, truncated, or sealed with a key
    the keys file lacks); the rest of the store reads."""

    def __init__(self, run_id: str, why: str) -> None:
        super().__init__(
            f"run {run_id}: its stored record cannot be read ({why})", run_id=run_id, unreadable=True
        )
        self.run_id = run_id


UNREADABLE = "error"  # the key that marks a listed run whose record cannot be read, with the reason
