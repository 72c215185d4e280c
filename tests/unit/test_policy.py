"""Admission policies as pure values: allowed values, concurrency, token buckets with a clock."""

from __future__ import annotations

from floe.config import parse_config
from floe.config.policies import parse_rate
from floe.model.policy import Bucket, admit

FLOW = parse_config(
    """
flows:
  - id: f
    triggers: [{id: go, type: data}, {id: nightly, type: timer, opts: {period: 60}}]
    policies:
      - {name: main-only, allow: {branch: [main, "release/*"]}}
      - {name: two, max-concurrent: 2}
      - {name: burst, rate: 2/min, trigger: go}
    tasks: [{id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}]
""",
    "t.yml",
).flows[0]


def test_parse_rate() -> None:
    assert parse_rate("5/min") == (5 / 60, 5)
    assert parse_rate("10/s") == (10.0, 10)
    assert parse_rate("0/s") is None and parse_rate("fast") is None


def test_allowed_values_are_globs_and_forbid_with_403() -> None:
    rej, _ = admit(FLOW, "go", {"branch": "feature/x"}, 0, {}, 0.0)
    assert rej is not None and (rej.policy, rej.status) == ("main-only", 403)
    rej, _ = admit(FLOW, "go", {"branch": "release/2"}, 0, {}, 0.0)
    assert rej is None


def test_concurrency_limit_is_429() -> None:
    rej, _ = admit(FLOW, "go", {"branch": "main"}, 2, {}, 0.0)
    assert rej is not None and (rej.policy, rej.status) == ("two", 429)


def test_token_bucket_refills_with_time_and_applies_to_its_trigger_only() -> None:
    buckets: dict[str, Bucket] = {}
    started = 0
    for _ in range(5):
        rej, taken = admit(FLOW, "go", {"branch": "main"}, 0, buckets, 100.0)
        if rej is None:
            started += 1
            buckets.update(taken)
    assert started == 2
    rej, _ = admit(FLOW, "go", {"branch": "main"}, 0, buckets, 110.0)
    assert rej is not None and "try again in 20.0s" in rej.message
    assert admit(FLOW, "go", {"branch": "main"}, 0, buckets, 130.0)[0] is None  # one token back
    assert admit(FLOW, "nightly", {"branch": "main"}, 0, buckets, 110.0)[0] is None
