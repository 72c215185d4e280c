"""Flow snapshots signed by a cluster host: HMAC-SHA256 under a key derived from the admin token,
which every host of a cluster shares (it is how they authenticate to each other)."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from floe.model.constant_time import same_secret

SIGNATURE_KEY = "snapshot_sig"  # where a handed-over pend carries its snapshot's signature
_PURPOSE = b"floe: flow snapshots handed between hosts, v1"


def _key(token: str) -> bytes:
    return hmac.new(token.encode(), _PURPOSE, hashlib.sha256).digest()


def _canonical(snapshot: Any) -> bytes:
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sign(token: str, snapshot: Any) -> str:
    """The signature of a snapshot document (as JSON would carry it), hex."""
    return hmac.new(_key(token), _canonical(snapshot), hashlib.sha256).hexdigest()


def signed(token: str, snapshot: Any, signature: object) -> bool:
    """Whether `signature` is `sign(token, snapshot)`; never with an empty token (no cluster key)."""
    if not token or not isinstance(signature, str):
        return False
    try:
        want = sign(token, snapshot)
    except (TypeError, ValueError):  # not a JSON document
        return False
    return same_secret(want, signature)
