"""Flow-file documents and floe's override rules (merge_flow_file is pure)."""

from __future__ import annotations

import copy

import pytest

from floe.config import ConfigError, load_flow_document, merge_flow_file, parse_config, parse_flow_document
from floe.model.flow import NodeClass

HOST = """\
flows:
  - id: build
    name: Build
    ver: 2
    reuse-space: true
    host-tags: [linux]
    resource-tags: [db]
    env: [A=1]
    flow-file: build.yml
    triggers: [{name: start, type: data}]
    tasks: [{name: old, type: end, listen: trigger.good}]
"""

DOC = """\
id: other
host-tags: [linux, go]
env:
  - GOPATH={{ws}}
tasks:
  - name: Checkout
    listen: trigger.good
    type: git-checkout
  - name: Wait
    class: merge
    wait: [task.checkout.good]
  - name: done
    listen: merge.wait.good
    type: end
"""


def test_document_loads_with_derived_ids() -> None:
    doc = load_flow_document(DOC, "build.yml")
    assert (doc.id, doc.name, doc.source) == (
        "other",
        "",
        "build.yml",
    )  # a document's name is used only when written
    assert [(n.id, n.cls) for n in doc.tasks] == [
        ("checkout", NodeClass.TASK),
        ("wait", NodeClass.MERGE),
        ("done", NodeClass.TASK),
    ]
    assert doc.env == ("GOPATH={{ws}}",)


def test_document_may_omit_id_and_name() -> None:
    doc = parse_flow_document("tasks: [{name: e, type: end, listen: trigger.good}]\n", "d.yml")
    assert doc.flow.id == "" and doc.warnings == ()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("common: {}\n", "not a flow-file document"),
        ("- a\n", "must be a mapping"),
        ("id: x\ntasks: [{name: a, type: exec}]\n", "needs listen"),
        ("id: x\ncolour: red\n", "unknown key in a flow-file document"),
    ],
)
def test_bad_documents(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_flow_document(text, "d.yml")


def test_document_warnings() -> None:
    doc = parse_flow_document("id: x\nflow-file: y.yml\ntriggers: []\ntasks: []\n", "d.yml")
    assert [(w.line, w.key) for w in doc.warnings] == [(1, "tasks"), (2, "flow-file"), (3, "triggers")]


def test_merge_overrides_as_floe() -> None:
    flow = parse_config(HOST, "c").flows[0]
    doc = load_flow_document(DOC, "build.yml")
    before = copy.deepcopy((flow, doc))
    merged = merge_flow_file(flow, doc)
    assert (flow, doc) == before  # neither input changed
    assert merged is not flow
    assert (merged.id, merged.ver, merged.name, merged.flow_file) == ("build", 2, "Build", "build.yml")
    assert merged.triggers == flow.triggers
    assert merged.tasks == doc.tasks
    assert merged.host_tags == ("linux", "go")
    assert merged.resource_tags == ("db",)  # empty in the document: kept
    assert merged.env == ("GOPATH={{ws}}",)
    assert merged.reuse_space is False  # always taken from the document


def test_merge_keeps_tasks_when_document_has_none_and_takes_an_explicit_name() -> None:
    flow = parse_config(HOST, "c").flows[0]
    doc = load_flow_document("name: Renamed\nreuse-space: true\n", "d.yml")
    merged = merge_flow_file(flow, doc)
    assert merged.tasks == flow.tasks and merged.name == "Renamed" and merged.reuse_space


def test_merge_rejects_a_task_id_colliding_with_a_trigger() -> None:
    flow = parse_config(HOST, "c").flows[0]
    doc = load_flow_document("tasks: [{name: start, type: end, listen: trigger.good}]\n", "d.yml")
    with pytest.raises(ConfigError, match="2 nodes have id: start"):
        merge_flow_file(flow, doc)
