"""The host log lines the reducer asks for in a run's life: the run's end at INFO, the trigger's
audit entry (stored in the audit trail anyway) at DEBUG only."""

from __future__ import annotations

import logging

from floe.model.effects import AwaitStored, Log
from floe.model.host import HostState, handle
from floe.model.messages import NodeDone, Settle, Stored, Trigger
from tests.unit.test_host_model import FLOWS, Box, feed


def test_a_run_logs_its_end_at_info_and_its_trigger_audit_line_at_debug() -> None:
    s, fx = handle(HostState("h1"), Trigger(FLOWS["f"], "go", {}, Box(), "ann"), 1.0)
    logs = [e for e in fx if isinstance(e, Log)]
    assert [(e.level, e.text.split(":")[0]) for e in logs] == [(logging.DEBUG, "audit")]
    s, fx = feed(s, Settle(1.0))
    held = next(e.held for e in fx if isinstance(e, AwaitStored))
    s, _ = feed(s, Stored(held))
    s, fx = feed(s, NodeDone("h1-1", "a", 0, {}), now=2.0)
    assert [(e.level, e.text) for e in fx if isinstance(e, Log)] == [(logging.INFO, "<h1-1> f ended good ")]
