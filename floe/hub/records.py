"""Stored run documents made into runs, or, for one that cannot be read, into what is said of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from floe.model.codec import run_from_doc
from floe.model.run import Run
from floe.store.errors import UNREADABLE, DamagedRecord


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A stored run whose record cannot be read: listed with the reason, never run or changed."""

    run_id: str
    flow: str
    created: float
    error: str


def listed_run(doc: dict[str, Any]) -> Run | Unreadable:
    """A listed document as a run, or as Unreadable when the store could not read it or it is not
    the document of a run."""
    if UNREADABLE not in doc:
        try:
            return stored_run(doc)
        except DamagedRecord as e:
            doc = {**doc, UNREADABLE: str(e)}
    created = doc.get("created")
    return Unreadable(
        str(doc.get("run_id", "")),
        str(doc.get("flow", "")),
        float(created) if isinstance(created, int | float) else 0.0,
        str(doc[UNREADABLE]),
    )


def stored_run(doc: dict[str, Any]) -> Run:
    """The run of a stored document; DamagedRecord when it is not a run's document."""
    try:
        return run_from_doc(doc)
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise DamagedRecord(str(doc.get("run_id", "?")), f"not a run document: {e!r}") from None
