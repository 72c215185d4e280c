"""Parsing a flow's admission `policies`: max-concurrent, rate (token bucket) and allowed values."""

from __future__ import annotations

import re

from floe.config.reader import Section
from floe.model.flow import Policy

POLICY_KEYS = frozenset({"name", "max-concurrent", "rate", "trigger", "allow"})
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$")
_PERIOD = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600, "hour": 3600}


def parse_rate(text: str) -> tuple[float, int] | None:
    """`"5/min"` → (tokens per second, burst); None when malformed."""
    m = _RATE.match(text)
    if m is None or int(m.group(1)) == 0:
        return None
    n = int(m.group(1))
    return n / _PERIOD[m.group(2)], n


def parse_policies(sec: Section) -> tuple[Policy, ...]:
    out: list[Policy] = []
    for i, p in sec.sections("policies"):
        p.check_keys(POLICY_KEYS, "a policy")
        name = p.string("name") or f"policy-{i + 1}"
        rate, burst = None, 1
        if (text := p.string("rate")) is not None:
            parsed = parse_rate(text)
            if parsed is None:
                p.error("rate", f"must look like '5/min' (per s, min or hour), not {text!r}")
            else:
                rate, burst = parsed
        allow: dict[str, tuple[str, ...]] = {}
        if (allow_sec := p.section("allow")) is not None:
            for field in allow_sec.raw:
                patterns = allow_sec.strings(str(field), allow_single=True)
                if patterns is not None:
                    allow[str(field)] = patterns
        policy = Policy(
            name=name,
            max_concurrent=p.integer("max-concurrent", minimum=1),
            rate=rate,
            burst=burst,
            trigger=p.string("trigger") or "",
            allow=allow,
        )
        if policy.max_concurrent is None and policy.rate is None and not policy.allow:
            p.warn("name", f"policy {name} sets none of max-concurrent, rate, allow: it admits everything")
        out.append(policy)
    return tuple(out)
