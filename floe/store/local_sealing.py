"""Sealing and opening the documents the local store keeps in its rows."""

from __future__ import annotations

from floe.store.base import Doc
from floe.store.crypto import SEALED, Cipher, event_aad, run_aad
from floe.store.errors import UNREADABLE, DamagedRecord, StoreError
from floe.store.rows import EventRow, decode, stored_doc


class Sealing:
    """Seals and opens the documents of the rows; without a cipher they are kept plain, and a
    sealed one is damage."""

    def __init__(self, cipher: Cipher | None) -> None:
        self.cipher = cipher

    def sealed(self, text: str, aad: str) -> str:
        return text if self.cipher is None else self.cipher.seal(text, aad)

    def opened(self, text: str, aad: str, run_id: str) -> str:
        """The JSON of a stored document (in a reader thread: decryption costs no event-loop time);
        DamagedRecord when it cannot be opened."""
        if self.cipher is not None:
            try:
                return self.cipher.open(text, aad)
            except StoreError as e:
                raise DamagedRecord(run_id, str(e)) from None
        if text.startswith(SEALED):
            raise DamagedRecord(
                run_id, f"{aad}: stored record is encrypted, and this store was opened without keys"
            )
        return text

    def listed(self, run_id: str, flow: str, phase: str, created: float, text: str) -> Doc:
        """A listed run's document, or (when it cannot be read) what the listing says instead."""
        try:
            return stored_doc(run_id, self.opened(text, run_aad(run_id), run_id))
        except DamagedRecord as e:
            return {"run_id": run_id, "flow": flow, "phase": phase, "created": created, UNREADABLE: str(e)}

    def events(self, run_id: str, rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
        return [(seq, self.opened(doc, event_aad(run_id, seq), run_id)) for seq, doc in rows]


def buffered_doc(text: str) -> Doc:
    """A document not yet written: encoded here, so it always decodes."""
    doc: Doc = decode(text)
    return doc


def merge_events(
    stored: list[tuple[int, str]], buffered: list[EventRow], taken: set[int]
) -> list[tuple[int, str]]:
    """Stored events, then buffered ones (enqueued later) of seqs neither stored nor `taken`."""
    if not buffered:
        return stored
    merged = dict(stored)
    for e in buffered:
        if e.seq not in taken:
            merged.setdefault(e.seq, e.doc)
    return sorted(merged.items())
