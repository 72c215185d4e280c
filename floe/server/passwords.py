"""Password hashes (scrypt) for the users of the config: make one, check one in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from floe.config.users import HASH_PREFIX

N, R, P = 2**14, 8, 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"{HASH_PREFIX}{N}${R}${P}${_b64(salt)}${_b64(digest)}"


def check_password(password: str, stored: str) -> bool:
    try:
        n, r, p, salt, digest = stored.removeprefix(HASH_PREFIX).split("$")
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(want)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


# Checked for unknown users so a login takes as long either way: a hash of the same cost that no
# password matches (its digest is zeros), made without hashing anything as the module loads.
DUMMY_HASH = f"{HASH_PREFIX}{N}${R}${P}${_b64(bytes(16))}${_b64(bytes(32))}"
