"""floe's `inbound.<trigger-type>` event: a new pend says what came in, with its values."""

from __future__ import annotations

from floe.config import parse_config
from floe.model import run as rm

CONF = """
flows:
  - id: f
    triggers:
      - {id: go, type: data}
      - {id: tick, type: timer, opts: {period: 60}}
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
"""


def test_a_pend_emits_inbound_of_its_trigger_type_after_add_pend() -> None:
    flow = parse_config(CONF, "t.yml").flows[0]
    step = rm.new_pend("h1-1", flow, "go", {"branch": "main"}, 1.0)
    assert [e.tag for e in step.events] == ["sys.state", "inbound.data"]
    inbound = step.events[1]
    assert inbound.source == "go" and dict(inbound.opts) == {"branch": "main"} and inbound.seq == 2
    timer = rm.new_pend("h1-2", flow, "tick", {}, 1.0)
    assert timer.events[1].tag == "inbound.timer"
