"""Admission policies, purely: may a trigger create a pend now? Token buckets are values."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from floe.model.errors import FloeError
from floe.model.flow import Flow, Policy


@dataclass(frozen=True, slots=True)
class Bucket:
    tokens: float
    at: float


@dataclass(frozen=True, slots=True)
class Rejection:
    policy: str
    status: int  # 429: try later; 403: never with these values
    message: str


def _refill(p: Policy, b: Bucket | None, now: float) -> Bucket:
    assert p.rate is not None
    if b is None:
        return Bucket(float(p.burst), now)
    return Bucket(min(float(p.burst), b.tokens + (now - b.at) * p.rate), now)


def counted(flow: Flow, trigger: str) -> bool:
    """Whether a policy of `flow` that applies to `trigger` counts runs or takes tokens (not only
    `allow`): on a cluster's database such an admission is a fact of the whole cluster."""
    return any(
        (not p.trigger or p.trigger == trigger) and (p.max_concurrent is not None or p.rate is not None)
        for p in flow.policies
    )


def admit(
    flow: Flow,
    trigger: str,
    values: Mapping[str, Any],
    live: int,
    buckets: Mapping[str, Bucket],
    now: float,
) -> tuple[Rejection | None, dict[str, Bucket]]:
    """Check every policy of `flow` that applies to `trigger`; take a token from each rate bucket
    only when all of them admit. `live` counts the flow's pending and active runs."""
    taken: dict[str, Bucket] = {}
    for p in flow.policies:
        if p.trigger and p.trigger != trigger:
            continue
        for name, patterns in p.allow.items():
            value = str(values.get(name, ""))
            if not any(fnmatch.fnmatchcase(value, pat) for pat in patterns):
                return Rejection(p.name, 403, f"{name}={value!r} is not allowed ({', '.join(patterns)})"), {}
        if p.max_concurrent is not None and live >= p.max_concurrent:
            return Rejection(p.name, 429, f"at most {p.max_concurrent} concurrent runs of {flow.id}"), {}
        if p.rate is not None:
            b = _refill(p, buckets.get(p.name), now)
            if b.tokens < 1:
                wait = (1 - b.tokens) / p.rate
                return Rejection(p.name, 429, f"rate limit: try again in {wait:.1f}s"), {}
            taken[p.name] = Bucket(b.tokens - 1, now)
    return None, taken


class Rejected(FloeError):
    """A trigger refused by an admission policy: nothing was created (its status: 429 or 403)."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(f"policy {rejection.policy}: {rejection.message}", policy=rejection.policy)
        self.rejection = rejection
