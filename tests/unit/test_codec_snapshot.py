"""A run document's flow snapshot is made once for each flow, not again for every document."""

from __future__ import annotations

from floe.config import parse_config
from floe.model import run as rm
from floe.model.codec import flow_doc, run_doc, run_from_doc

CONF = """
flows:
  - id: f
    triggers: [{id: go, type: data}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
"""


def test_documents_of_one_flow_share_its_snapshot_and_it_reads_back() -> None:
    (flow,) = parse_config(CONF, "t.yml").flows
    first = rm.new_pend("h1-1", flow, "go", {}, 1.0).run
    second = rm.new_pend("h1-2", flow, "go", {}, 2.0).run
    a, b = run_doc(first), run_doc(second)
    assert a["snapshot"] is b["snapshot"] and a["snapshot"] == flow_doc(flow)
    assert run_from_doc(b).flow == flow
    (other,) = parse_config(CONF.replace("true", "false"), "t.yml").flows  # another flow object
    assert (
        run_doc(rm.new_pend("h1-3", other, "go", {}, 3.0).run)["snapshot"] == flow_doc(other) != a["snapshot"]
    )
