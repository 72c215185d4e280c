"""Request bodies are checked by their route's declared schema on a real host: a value of the wrong
type is a 400 naming its field, and nothing is done."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.host import FloeHost

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
  posted-flows: operator
flows:
  - id: quick
    ver: 1
    triggers: [{id: go, type: data}, {id: tick, type: timer, opts: {period: 3600}}]
    tasks:
      - {id: done, listen: trigger.good, type: end}
"""


@pytest.fixture
def host(floe_host: Callable[..., FloeHost]) -> FloeHost:
    return floe_host(CONFIG)


def test_bodies_are_checked_by_the_declared_schema(host: FloeHost) -> None:
    cases = [
        ("/stop", {"cancel": "yes"}, "cancel"),
        ("/stop", {"flow": 7}, "flow"),
        ("/push/data", {"Ref": {"ID": "quick", "Ver": "1"}}, "Ref.Ver"),
        ("/push/data", {"Form": {"ID": "go"}}, "Ref"),
        ("/flows/quick/triggers/tick/run", {"ref": ["main"]}, "ref"),
        ("/runs", {"values": {}}, "flow"),
    ]
    for path, body, field in cases:
        r = host.post(path, body)
        assert (r.status_code, r.json().get("field")) == (400, field), (path, body, r.text)
    assert host.get("/stop").json()["stopped"] == {}  # nothing was stopped by a bad body
