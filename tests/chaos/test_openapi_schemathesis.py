"""Schemathesis against a real host's `/openapi.json`: every documented operation, no 5xx answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis is not installed (test extras)")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from tests.chaos.test_fuzz_api import CONF  # noqa: E402
from tests.support.host import BASE, TOKEN, FloeHost  # noqa: E402

AUTH = {"X-Floe-Auth": TOKEN}
EXAMPLES = 40  # per operation


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


@pytest.mark.timeout(240)
def test_no_documented_operation_answers_5xx(schema_host: FloeHost) -> None:
    """Each operation's generated cases (schemathesis' pytest plugin does not run under pytest 9, so
    the operations' hypothesis strategies are driven here)."""
    schema = schemathesis.openapi.from_url(f"{schema_host.url}{BASE}/openapi.json", headers=AUTH)
    failures: list[str] = []
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
            response = case.call(base_url=schema_host.url, headers=AUTH, timeout=10)
            case.validate_response(response, checks=[not_a_server_error], headers=AUTH)

        try:
            call()
        except Exception as e:
            failures.append(f"{op.label}: {e!s:.1500}")
        tested += 1
    print(f"\nchaos schemathesis: {tested} operations, up to {EXAMPLES} cases each; unusable: {unusable}")
    assert tested >= 15
    assert failures == [], "\n\n".join(failures)
    assert schema_host.http.get("/healthz").json()["ok"] is True
    assert "Traceback" not in schema_host.log()
