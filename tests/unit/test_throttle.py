"""The login throttle as a pure policy: failures in a sliding window, per user and per address."""

from __future__ import annotations

from floe.server.throttle import LoginThrottle, Rule, Throttle


def test_a_key_is_blocked_until_its_oldest_counted_failure_leaves_the_window() -> None:
    t = Throttle(Rule(3, 60.0))
    assert [t.failed("k", now) for now in (0.0, 10.0, 20.0)] == [False, False, True]
    assert t.wait("k", 20.0) == 40.0  # the failure at 0 leaves the window at 60
    assert t.wait("k", 59.5) == 0.5
    assert t.wait("k", 60.0) == 0.0
    assert t.wait("other", 20.0) == 0.0


def test_failures_outside_the_window_do_not_count() -> None:
    t = Throttle(Rule(2, 10.0))
    t.failed("k", 0.0)
    assert t.failed("k", 11.0) is False
    assert t.wait("k", 11.0) == 0.0
    assert t.failures == {"k": t.failures["k"]} and list(t.failures["k"]) == [11.0]


def test_the_stalest_keys_are_forgotten_past_the_cap() -> None:
    t = Throttle(Rule(1, 60.0), max_keys=2)
    for i, key in enumerate(("a", "b", "a", "c")):
        t.failed(key, float(i))
    assert list(t.failures) == ["a", "c"]  # b failed least recently


def test_a_good_login_clears_the_user_but_not_the_address() -> None:
    logins = LoginThrottle(per_user=Rule(2, 60.0), per_address=Rule(3, 60.0))
    logins.failed("ada", "10.0.0.9", 0.0)
    assert logins.failed("ada", "10.0.0.9", 1.0) is True
    assert logins.retry_after("ada", "10.0.0.8", 1.5) == 59  # the user, from anywhere
    logins.succeeded("ada")
    assert logins.retry_after("ada", "10.0.0.9", 2.0) == 0
    assert logins.failed("eve", "10.0.0.9", 2.0) is True  # the address's third failure
    assert logins.retry_after("bob", "10.0.0.9", 2.0) == 58
    assert logins.retry_after("bob", "10.0.0.7", 2.0) == 0
