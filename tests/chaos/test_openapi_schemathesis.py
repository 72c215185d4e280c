"""Schemathesis against a real host's `/openapi.json`: every documented operation, no 5xx answer,
and every answer as documented (status code, content type and body schema)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (test extras)")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.core.failures import FailureGroup  # noqa: E402

from tests.chaos.support import examples  # noqa: E402
from tests.chaos.test_fuzz_api import CONF  # noqa: E402
from tests.support.host import BASE, TOKEN, FloeHost  # noqa: E402

AUTH = {"X-Floe-Auth": TOKEN}
EXAMPLES = examples(10)  # per operation (FLOE_FUZZ_SCALE=4: the 40 of a nightly run)
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def schema_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FloeHost]:
    h = FloeHost(tmp_path_factory.mktemp("schemathesis"), CONF)
    try:
        h.start()
        for _ in range(3):
            h.trigger("fz")
        yield h
    finally:
        h.stop()
        h.http.close()


@pytest.mark.timeout(300)
def test_every_documented_operation_answers_as_documented(schema_host: FloeHost) -> None:
    """Each operation's generated cases (schemathesis' pytest plugin does not run under pytest 9, so
    the operations' hypothesis strategies are driven here); every answer is checked, none shrunk."""
    schema = schemathesis.openapi.from_url(f"{schema_host.url}{BASE}/openapi.json", headers=AUTH)
    sent, server_errors, mismatches = 0, [], []
    examples: dict[str, str] = {}  # one answer of each kind of mismatch
    unusable: list[str] = []
    tested = 0
    for result in schema.get_all_operations():
        try:
            op = result.ok()
        except Exception as e:  # an operation schemathesis cannot build cases for: reported below
            unusable.append(repr(e)[:200])
            continue

        @given(case=op.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def call(case: Any) -> None:
            nonlocal sent
            response = case.call(base_url=schema_host.url, headers=AUTH, timeout=10)
            sent += 1
            if response.status_code >= 500:
                server_errors.append(f"{case.operation.label}: {response.status_code} {response.text[:300]}")
            try:
                case.validate_response(response, checks=CHECKS, headers=AUTH)
            except FailureGroup as e:  # the answer differs from the document
                kinds = "; ".join(sorted({getattr(x, "title", type(x).__name__) for x in e.exceptions}))
                mismatches.append(f"{case.operation.label} -> {response.status_code}: {kinds}")
                examples.setdefault(mismatches[-1], f"{e!s:.1200}")

        call()
        tested += 1
    print(
        f"\nchaos schemathesis: {tested} operations, {sent} requests sent, {len(server_errors)} answers "
        f"of 5xx, {len(mismatches)} schema mismatches; unusable: {unusable}"
    )
    assert tested >= 15
    assert server_errors == [], "\n".join(server_errors[:20])
    assert mismatches == [], "\n".join(sorted(set(mismatches))) + "\n\n" + "\n\n".join(examples.values())
    assert schema_host.http.get("/healthz").json()["ok"] is True
    assert "Traceback" not in schema_host.log()
