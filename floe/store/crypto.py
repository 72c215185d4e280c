"""Encryption at rest of stored documents (AES-GCM), with a key file whose last key is the active one."""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import os
import re
import secrets
import tempfile
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from floe.store.errors import StoreError

log = logging.getLogger(__name__)

KEYS_FILE = "keys"  # in the config's store-root, next to `admin-token`
SEALED = "enc:"  # a sealed document is `enc:<key-id>:<base64(nonce + ciphertext + tag)>`
KEY_BYTES = 32  # new keys are AES-256
NONCE_BYTES = 12
TAG_BYTES = 16
_KEY_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def run_aad(run_id: str) -> str:
    """What a run document is bound to: it cannot be moved to another run's row."""
    return f"run/{run_id}"


def event_aad(run_id: str, seq: int) -> str:
    """What an event is bound to: its run and place in it."""
    return f"event/{run_id}/{seq}"


class Cipher:
    """Seals text with the active key (the last one) and opens text sealed with any of `keys`;
    text that is not sealed (written before encryption was enabled) opens as it is."""

    def __init__(self, keys: Sequence[tuple[str, bytes]], source: str = "") -> None:
        self.source = source or "the keys file"  # named in errors
        if not keys:
            raise ValueError("a cipher needs at least one key")
        self._keys: dict[str, AESGCM] = {}
        for key_id, key in keys:
            if not _KEY_ID.fullmatch(key_id):
                raise ValueError(f"bad key id {key_id!r}")
            if key_id in self._keys:
                raise ValueError(f"key id {key_id} is used twice")
            self._keys[key_id] = AESGCM(key)
        self.active = keys[-1][0]

    @property
    def key_ids(self) -> tuple[str, ...]:
        return tuple(self._keys)

    def seal(self, text: str, aad: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        body = self._keys[self.active].encrypt(nonce, text.encode("utf-8"), aad.encode("utf-8"))
        return f"{SEALED}{self.active}:{base64.b64encode(nonce + body).decode('ascii')}"

    def open(self, text: str, aad: str) -> str:
        """The plain text of `text` (sealed for `aad`); StoreError when it cannot be opened."""
        if not text.startswith(SEALED):
            return text
        key_id, sep, body = text[len(SEALED) :].partition(":")
        if not sep:
            raise StoreError(f"{aad}: stored record is malformed (no key id)")
        aead = self._keys.get(key_id)
        if aead is None:
            raise StoreError(
                f"{aad}: stored record is encrypted with key {key_id!r}, which the keys file does not have"
            )
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise StoreError(f"{aad}: stored record is malformed (bad base64)") from None
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise StoreError(f"{aad}: stored record is malformed (too short)")
        try:
            plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode("utf-8"))
        except InvalidTag:
            raise StoreError(
                f"{aad}: stored record fails authentication with key {key_id}: "
                "it was altered, or belongs to another record"
            ) from None
        return plain.decode("utf-8")

    def sealed_with_active(self, text: str) -> bool:
        return text.startswith(f"{SEALED}{self.active}:")


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def read_keys(path: Path) -> list[tuple[str, bytes]]:
    """The keys of a key file: one `<key-id> <base64 key>` a line (blank lines and `#` comments
    ignored), oldest first. StoreError naming the line when one is malformed."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise StoreError(f"cannot read keys file {path}: {why}") from None
    keys: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 2 or not _KEY_ID.fullmatch(parts[0]):
            raise StoreError(f"{path}:{number}: expected '<key-id> <base64 key>'")
        key_id, encoded = parts
        try:
            key = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise StoreError(f"{path}:{number}: key {key_id} is not base64") from None
        if len(key) not in (16, 24, 32):
            raise StoreError(f"{path}:{number}: key {key_id} has {len(key)} bytes, not 16, 24 or 32")
        if key_id in seen:
            raise StoreError(f"{path}:{number}: key id {key_id} is used twice")
        seen.add(key_id)
        keys.append((key_id, key))
    if not keys:
        raise StoreError(f"keys file {path} holds no key")
    return keys


def load_cipher(path: Path, *, create: bool = True) -> Cipher:
    """The cipher of key file `path`; when missing (and `create`), a new file (mode 0600) with one key."""
    if not path.exists() and create:
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            _publish(path, _line("k1", new_key()), exclusive=True)
            log.warning("created keys file %s: keep it private, and back it up", path)
    keys = read_keys(path)
    try:
        mode = path.stat().st_mode
    except OSError:
        mode = 0
    if mode & 0o077:
        log.warning("keys file %s can be read by other users (mode %o): chmod 600 it", path, mode & 0o777)
    return Cipher(keys, source=str(path))


def add_key(path: Path) -> str:
    """Append a new key to key file `path` (created when missing); returns its id, the new active key."""
    keys = read_keys(path) if path.exists() else []
    numbers = [int(k[1:]) for k, _ in keys if re.fullmatch(r"k\d{1,9}", k)]
    taken = {k for k, _ in keys}
    n = max(numbers, default=0) + 1
    while f"k{n}" in taken:
        n += 1
    key_id = f"k{n}"
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    if old and not old.endswith("\n"):
        old += "\n"
    _publish(path, old + _line(key_id, new_key()), exclusive=False)
    return key_id


def _line(key_id: str, key: bytes) -> str:
    return f"{key_id} {base64.b64encode(key).decode('ascii')}\n"


def _publish(path: Path, text: str, *, exclusive: bool) -> None:
    """Write `text` to a private temp file beside `path`, then put it in place atomically: linked
    (failing with FileExistsError if `path` exists) when `exclusive`, else renamed over it."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".keys-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        if exclusive:
            os.link(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    with contextlib.suppress(OSError):  # make the new directory entry durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
