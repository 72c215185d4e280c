"""Login throttling as a pure policy: failures per user and per address in a sliding window."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

MAX_KEYS = 10_000  # users or addresses tracked at once; the stalest are forgotten first


@dataclass(frozen=True, slots=True)
class Rule:
    limit: int  # failures allowed in `window` seconds
    window: float


class Throttle:
    """Failures per key in a sliding window: at `limit` of them the key waits until the oldest
    counted one leaves the window. The clock is the caller's (`now` in seconds)."""

    def __init__(self, rule: Rule, max_keys: int = MAX_KEYS) -> None:
        self.rule, self.max_keys = rule, max_keys
        self.failures: dict[str, deque[float]] = {}

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self.failures.get(key, deque())
        while times and times[0] <= now - self.rule.window:
            times.popleft()
        if not times:
            self.failures.pop(key, None)
        return times

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may try again; 0 when it may now."""
        times = self._recent(key, now)
        if len(times) < self.rule.limit:
            return 0.0
        return times[-self.rule.limit] + self.rule.window - now

    def failed(self, key: str, now: float) -> bool:
        """Count a failure; True when it is the one that blocks the key."""
        times = self._recent(key, now)
        times.append(now)
        self.failures.pop(key, None)
        self.failures[key] = times  # newest last: the first keys are the stalest
        while len(self.failures) > self.max_keys:
            del self.failures[next(iter(self.failures))]
        return len(times) == self.rule.limit

    def forget(self, key: str) -> None:
        self.failures.pop(key, None)


class LoginThrottle:
    """Failed logins per user and per client address: either over its limit refuses the login."""

    def __init__(self, per_user: Rule = Rule(10, 60.0), per_address: Rule = Rule(20, 60.0)) -> None:
        self.users, self.addresses = Throttle(per_user), Throttle(per_address)

    def retry_after(self, user: str, address: str, now: float) -> int:
        """Whole seconds to wait before `user` may log in from `address`; 0: it may now."""
        wait = max(self.users.wait(user, now), self.addresses.wait(address, now))
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, user: str, address: str, now: float) -> bool:
        """Count a failed login; True when it starts a block of the user or the address."""
        return self.users.failed(user, now) | self.addresses.failed(address, now)

    def succeeded(self, user: str) -> None:
        """A good password clears the user's failures (not the address's: a guesser with an
        account of their own must not reset their count by logging in)."""
        self.users.forget(user)
