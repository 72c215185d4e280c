"""Documents handed to the local store for good (`Handed`, as the hub hands its runs and events)
are encoded by the store's writer thread, not by the caller's; any other document stays a
snapshot taken at the call."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from floe.store.base import Doc, Handed
from floe.store.local import LocalStore


class Spied(dict[str, Any]):
    """A mapping that notes the thread each JSON encoding of it runs on (the encoder asks a dict
    subclass for its items)."""

    def __init__(self, threads: list[str], **values: Any) -> None:
        super().__init__(values)
        self.threads = threads

    def items(self) -> Any:
        self.threads.append(threading.current_thread().name)
        return super().items()


def event(seq: int, opts: dict[str, Any]) -> Doc:
    return {
        "run_id": "h1-1",
        "flow": "f",
        "source_node": "a",
        "tag": "sys.node.update",
        "seq": seq,
        "opts": opts,
    }


async def test_handed_runs_and_events_are_encoded_on_the_writer_thread_and_read_back(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    await store.open()
    try:
        threads: list[str] = []
        store.append_event(Handed(event(1, Spied(threads, lines=["one", "two"]))))
        doc = {"run_id": "h1-1", "flow": "f", "phase": "active", "created": 1.0}
        store.put_run(Handed(doc, nodes=[Spied(threads, id="a", status="running")]))
        assert threads == []  # nothing encoded on the caller's thread
        await store.flush()
        assert threads == ["floe-store-writer", "floe-store-writer"]
        assert await store.node_log("h1-1", "a") == ["one", "two"]
        got = await store.get_run("h1-1")
        assert got is not None and got["nodes"] == [{"id": "a", "status": "running"}]
    finally:
        await store.close()


async def test_a_buffered_handed_document_reads_back_and_one_json_cannot_encode_stops_no_write(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "store")
    await store.open()
    try:
        store.append_event(Handed(event(1, {"lines": ["buffered"]})))
        assert await store.node_log("h1-1", "a") == ["buffered"]  # read before any commit
        store.append_event(Handed(event(2, {"lines": ["x"], "odd": {1, 2}})))  # a set: no JSON form
        store.append_event(event(3, {"lines": ["after"]}))
        await store.flush()
        assert await store.node_log("h1-1", "a") == ["buffered", "x", "after"]
        (odd,) = [e for e in await store.events("h1-1") if e["seq"] == 2]
        assert odd["opts"]["odd"] == "{1, 2}"  # kept as its repr
        assert store.write_error is None and store.pending_writes == 0
    finally:
        await store.close()


async def test_a_document_not_handed_is_still_a_snapshot(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    await store.open()
    try:
        ev = event(1, {"lines": ["as given"]})
        store.append_event(ev)
        ev["opts"]["lines"].append("changed later")
        await store.flush()
        assert await store.node_log("h1-1", "a") == ["as given"]
    finally:
        await store.close()
