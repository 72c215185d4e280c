"""Password hashes: the hash checked for unknown users costs what a user's does and matches nothing."""

from __future__ import annotations

from floe.server.passwords import DUMMY_HASH, check_password, hash_password


def test_the_dummy_hash_has_a_real_hashs_parameters_and_no_password_matches_it() -> None:
    real = hash_password("pw")
    assert DUMMY_HASH.split("$")[:4] == real.split("$")[:4]  # scrypt, N, r, p: the same work to check
    assert [len(part) for part in DUMMY_HASH.split("$")[4:]] == [len(part) for part in real.split("$")[4:]]
    assert check_password("pw", real)
    assert not any(check_password(pw, DUMMY_HASH) for pw in ("", "pw", "admin"))
