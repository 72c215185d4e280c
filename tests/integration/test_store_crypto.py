"""Encryption at rest: the cipher, the key file and its rotation, the local store's encrypted rows."""

from __future__ import annotations

import base64
import io
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

from floe.cli_keys import main as keys_main
from floe.store.crypto import Cipher, add_key, load_cipher, read_keys
from floe.store.errors import StoreError
from floe.store.local import LocalStore
from floe.store.local_keys import reencrypt
from floe.store.local_schema import DB_NAME

EMAIL = "customer-4711@example.org"


def run_doc(run_id: str, flow: str = "f", phase: str = "archive", created: float = 1.0) -> dict[str, Any]:
    return {"run_id": run_id, "flow": flow, "phase": phase, "created": created, "values": {"email": EMAIL}}


def event(run_id: str, seq: int, line: str = "") -> dict[str, Any]:
    opts: dict[str, Any] = {"line": line} if line else {"values": {"email": EMAIL}}
    tag = "sys.node.update" if line else "trigger.good"
    return {
        "run_id": run_id,
        "seq": seq,
        "source_node": "build" if line else "start",
        "tag": tag,
        "opts": opts,
    }


def raw_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.glob(DB_NAME + "*")))


def rows(root: Path, sql: str) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(root / DB_NAME)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def write(root: Path, db_sql: str, args: tuple[Any, ...]) -> None:
    db = sqlite3.connect(root / DB_NAME, isolation_level=None)
    try:
        db.execute(db_sql, args)
    finally:
        db.close()


async def fill(store: LocalStore, run_id: str) -> None:
    store.put_run(run_doc(run_id))
    store.append_event(event(run_id, 1))
    store.append_event(event(run_id, 2, f"hello {run_id}"))
    await store.flush()


def test_seal_and_open() -> None:
    cipher = Cipher([("k1", b"k" * 32)])
    sealed = cipher.seal('{"a": 1}', "run/x")
    assert sealed.startswith("enc:k1:")
    assert sealed != cipher.seal('{"a": 1}', "run/x")  # a fresh nonce each time
    assert cipher.open(sealed, "run/x") == '{"a": 1}'
    assert cipher.open('{"plain": true}', "run/x") == '{"plain": true}'  # written before encryption
    with pytest.raises(StoreError, match="run/y: stored record fails authentication with key k1"):
        cipher.open(sealed, "run/y")  # bound to its row


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda s: s[:-4] + ("AAAA" if s[-4:] != "AAAA" else "BBBB"), "fails authentication"),
        (lambda s: s.replace("enc:k1:", "enc:k9:"), "encrypted with key 'k9', which the keys file does not"),
        (lambda s: s[:20] + "!" + s[21:], "malformed"),
        (lambda s: "enc:k1:AAAA", "malformed"),
        (lambda s: "enc:k1", "malformed"),
    ],
)
def test_tampered_records_are_a_clear_error(mangle: Any, message: str) -> None:
    cipher = Cipher([("k1", b"k" * 32)])
    with pytest.raises(StoreError, match=message):
        cipher.open(mangle(cipher.seal("{}", "run/x")), "run/x")


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "root" / "keys"
    first = load_cipher(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    ((key_id, key),) = read_keys(path)
    assert key_id == "k1" and len(key) == 32 and first.active == "k1"
    sealed = first.seal("x", "a")
    assert load_cipher(path).open(sealed, "a") == "x"
    assert [p.name for p in path.parent.iterdir()] == ["keys"]  # no temp file left


def test_rotation_keeps_old_records_readable(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    old = load_cipher(path)
    sealed = old.seal("old", "a")
    assert add_key(path) == "k2"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    new = load_cipher(path, create=False)
    assert new.active == "k2" and new.key_ids == ("k1", "k2")
    assert new.open(sealed, "a") == "old"
    assert new.seal("new", "a").startswith("enc:k2:")
    assert add_key(path) == "k3"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "holds no key"),
        ("# only a comment\n\n", "holds no key"),
        ("k1\n", ":1: expected '<key-id> <base64 key>'"),
        ("k1 abc def\n", ":1: expected"),
        ("k:1 " + base64.b64encode(b"k" * 32).decode() + "\n", ":1: expected"),
        ("k1 !!!!\n", ":1: key k1 is not base64"),
        ("k1 " + base64.b64encode(b"short").decode() + "\n", ":1: key k1 has 5 bytes"),
        ("\nk1 {k}\nk1 {k}\n", ":3: key id k1 is used twice"),
    ],
)
def test_bad_key_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "keys"
    path.write_text(text.replace("{k}", base64.b64encode(b"k" * 32).decode()))
    with pytest.raises(StoreError, match=message):
        load_cipher(path)


def test_missing_key_file_without_create(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="cannot read keys file"):
        load_cipher(tmp_path / "keys", create=False)


async def test_local_store_encrypts_documents_and_events(tmp_path: Path) -> None:
    root = tmp_path / "store"
    cipher = load_cipher(tmp_path / "keys")
    store = LocalStore(root, cipher=cipher)
    await store.open()
    await fill(store, "h1-1")
    # reads see the documents, buffered or not
    assert (await store.get_run("h1-1")) == run_doc("h1-1")
    assert await store.node_log("h1-1", "build") == ["hello h1-1"]
    assert [e["seq"] for e in await store.events("h1-1")] == [1, 2]
    assert [d["run_id"] for d in await store.list_runs(phase="archive", flow="f")] == ["h1-1"]
    await store.close()
    # on disk: the indexed columns in the clear, the documents sealed
    assert rows(root, "SELECT run_id, flow, phase, created FROM runs") == [("h1-1", "f", "archive", 1.0)]
    assert rows(root, "SELECT run_id, seq, node, tag FROM events") == [
        ("h1-1", 1, "start", "trigger.good"),
        ("h1-1", 2, "build", "sys.node.update"),
    ]
    assert all(
        d.startswith("enc:k1:") for (d,) in rows(root, "SELECT doc FROM runs UNION SELECT doc FROM events")
    )
    assert EMAIL.encode() not in raw_bytes(root) and b"hello h1-1" not in raw_bytes(root)
    again = LocalStore(root, cipher=cipher)
    await again.open()
    assert (await again.get_run("h1-1")) == run_doc("h1-1")
    assert await again.node_log("h1-1", "build") == ["hello h1-1"]
    await again.close()


async def test_plain_records_from_before_encryption_still_read(tmp_path: Path) -> None:
    root = tmp_path / "store"
    plain = LocalStore(root)
    await plain.open()
    await fill(plain, "h1-1")
    await plain.close()
    store = LocalStore(root, cipher=load_cipher(tmp_path / "keys"))
    await store.open()
    await fill(store, "h1-2")
    assert sorted(d["run_id"] for d in await store.list_runs(phase="archive")) == ["h1-1", "h1-2"]
    assert (await store.get_run("h1-1")) == run_doc("h1-1")
    assert (await store.get_run("h1-2")) == run_doc("h1-2")
    assert await store.node_log("h1-1", "build") == ["hello h1-1"]
    await store.close()
    docs = dict(rows(root, "SELECT run_id, doc FROM runs"))
    assert docs["h1-1"].startswith("{") and docs["h1-2"].startswith("enc:k1:")


async def test_encrypted_store_opened_without_keys_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "store"
    store = LocalStore(root, cipher=load_cipher(tmp_path / "keys"))
    await store.open()
    await fill(store, "h1-1")
    await store.close()
    bare = LocalStore(root)
    await bare.open()
    with pytest.raises(StoreError, match="encrypted, and this store was opened without keys"):
        await bare.get_run("h1-1")
    await bare.close()


async def test_tampered_or_moved_rows_are_a_store_error(tmp_path: Path) -> None:
    root = tmp_path / "store"
    cipher = load_cipher(tmp_path / "keys")
    store = LocalStore(root, cipher=cipher)
    await store.open()
    await fill(store, "h1-1")
    await fill(store, "h1-2")
    await store.close()
    (doc,) = rows(root, "SELECT doc FROM runs WHERE run_id = 'h1-1'")[0]
    body = bytearray(base64.b64decode(doc.split(":", 2)[2]))
    body[20] ^= 1
    write(
        root, "UPDATE runs SET doc = ? WHERE run_id = 'h1-1'", ("enc:k1:" + base64.b64encode(body).decode(),)
    )
    write(
        root, "UPDATE runs SET doc = (SELECT doc FROM runs WHERE run_id = 'h1-1') WHERE run_id = 'h1-2'", ()
    )
    write(
        root,
        "UPDATE events SET doc = (SELECT doc FROM events WHERE run_id = 'h1-2' AND seq = 1)"
        " WHERE run_id = 'h1-2' AND seq = 2",
        (),
    )
    store = LocalStore(root, cipher=cipher)
    await store.open()
    with pytest.raises(StoreError, match="run/h1-1: stored record fails authentication"):
        await store.get_run("h1-1")
    listed = await store.list_runs(phase="archive")  # each is listed as unreadable, with why
    assert [(d["run_id"], "run/h1-2: stored record fails authentication" in d["error"]) for d in listed] == [
        ("h1-2", True),
        ("h1-1", False),
    ]
    assert "run/h1-1: stored record fails authentication" in listed[1]["error"]
    with pytest.raises(StoreError, match="event/h1-2/2: stored record fails authentication"):
        await store.events("h1-2")
    with pytest.raises(StoreError, match="event/h1-2/2"):
        await store.node_log("h1-2", "build")
    assert await store.node_log("h1-1", "build") == ["hello h1-1"]  # the rest still reads
    await store.close()


async def test_reencrypt_rewrites_everything_with_the_active_key(tmp_path: Path) -> None:
    root = tmp_path / "store"
    keys = tmp_path / "keys"
    plain = LocalStore(root)
    await plain.open()
    await fill(plain, "h1-1")
    await plain.close()
    store = LocalStore(root, cipher=load_cipher(keys))
    await store.open()
    await fill(store, "h1-2")
    await store.close()
    assert EMAIL.encode() in raw_bytes(root)  # the plain run
    add_key(keys)
    cipher = load_cipher(keys)
    assert reencrypt(root, cipher, chunk=1) == (2, 4)
    docs = rows(root, "SELECT doc FROM runs UNION ALL SELECT doc FROM events")
    assert len(docs) == 6 and all(d.startswith("enc:k2:") for (d,) in docs)
    assert EMAIL.encode() not in raw_bytes(root) and b"hello h1-" not in raw_bytes(root)
    assert reencrypt(root, cipher) == (0, 0)
    # only the new key is needed now
    only_new = Cipher([read_keys(keys)[-1]])
    again = LocalStore(root, cipher=only_new)
    await again.open()
    assert (await again.get_run("h1-1")) == run_doc("h1-1")
    assert await again.node_log("h1-2", "build") == ["hello h1-2"]
    await again.close()


async def test_reencrypt_refuses_a_store_in_use(tmp_path: Path) -> None:
    root = tmp_path / "store"
    cipher = load_cipher(tmp_path / "keys")
    store = LocalStore(root, cipher=cipher)
    await store.open()
    await fill(store, "h1-1")
    try:
        with pytest.raises(StoreError, match="in use"):
            reencrypt(root, cipher)
        assert (await store.get_run("h1-1")) == run_doc("h1-1")
    finally:
        await store.close()


async def test_floe_keys_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = LocalStore(tmp_path / "store", cipher=load_cipher(tmp_path / "keys"))
    await store.open()
    await fill(store, "h1-1")
    await store.close()
    out = io.StringIO()
    root = ["--store-root", str(tmp_path)]
    assert keys_main([*root, "rotate"], out) == 0
    assert keys_main([*root, "list"], out) == 0
    assert keys_main([*root, "rotate", "--reencrypt"], out) == 0
    assert out.getvalue().splitlines() == [
        f"added key k2 to {tmp_path / 'keys'}: new records use it once the host restarts",
        "k1",
        "k2  (active)",
        f"added key k3 to {tmp_path / 'keys'}: new records use it once the host restarts",
        "re-encrypted 1 run records and 2 events with key k3",
    ]
    assert all(d.startswith("enc:k3:") for (d,) in rows(tmp_path / "store", "SELECT doc FROM events"))
    (tmp_path / "keys").write_text("garbage\n")
    assert keys_main([*root, "reencrypt"], out) == 1
    assert "expected '<key-id> <base64 key>'" in capsys.readouterr().err


def test_new_key_ids_skip_taken_ones(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    k = base64.b64encode(b"k" * 32).decode()
    path.write_text(f"prod-2023 {k}\nk2 {k}")  # no newline at the end
    assert add_key(path) == "k3"
    assert [key_id for key_id, _ in read_keys(path)] == ["prod-2023", "k2", "k3"]
