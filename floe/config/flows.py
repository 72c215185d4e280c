"""Parsing one flow (of a host config or a flow-file document) and checking its node graph."""

from __future__ import annotations

from collections import defaultdict

from floe.config.ids import derive
from floe.config.keys import FLOW_KEYS
from floe.config.nodes import TagUse, parse_node
from floe.config.policies import parse_policies
from floe.config.reader import Section, suggest
from floe.config.retention import parse_retention
from floe.model.flow import Flow, Node, NodeClass
from floe.model.graph import emittable
from floe.model.template import STATIC_KEYS, output_refs


def parse_flow(sec: Section, *, document: bool = False) -> Flow | None:
    """The flow of mapping `sec`; a flow-file `document` may omit id and name and needs no triggers."""
    sec.check_keys(FLOW_KEYS, "a flow-file document" if document else "a flow")
    raw_id, raw_name = sec.string("id"), sec.string("name")
    if document and not raw_id and not raw_name:
        flow_id, name, problem = "", "", ""
    else:
        flow_id, name, problem = derive(raw_id, raw_name)
        if document and not raw_name:
            name = ""  # a document's name overrides the flow's only when written
    if problem:
        sec.report.error(sec.line_of("id") if sec.has("id") else sec.line, sec.key_path("id"), problem)
    ver = sec.integer("ver", minimum=0) or 0
    reuse_space = bool(sec.boolean("reuse-space"))
    host_tags = sec.strings("host-tags") or ()
    resource_tags = sec.strings("resource-tags") or ()
    env = sec.strings("env") or ()
    for entry in env:
        if "=" not in entry:
            sec.error("env", f"entry {entry!r} must be KEY=value")
    flow_file = sec.string("flow-file") or ""
    if document and flow_file:
        sec.warn("flow-file", "a flow-file document cannot name another flow-file, ignored")
        flow_file = ""
    triggers, trigger_uses = _nodes(sec, "triggers", in_triggers=True)
    tasks, uses = _nodes(sec, "tasks", in_triggers=False)
    if document and sec.has("triggers"):
        sec.warn("triggers", "triggers of a flow-file document are ignored (the host config's are used)")
    if document and sec.has("retention"):
        sec.warn("retention", "retention of a flow-file document is ignored (the host config's is used)")
    if not document and not sec.raw.get("triggers"):
        sec.report.warn(sec.line, sec.key_path("triggers"), "flow has no triggers, so it can never start")
    if not sec.raw.get("tasks") and not flow_file:
        sec.report.warn(sec.line, sec.key_path("tasks"), "flow has no tasks and no flow-file")
    flow = Flow(
        id=flow_id,
        ver=ver,
        name=name,
        reuse_space=reuse_space,
        host_tags=host_tags,
        resource_tags=resource_tags,
        env=env,
        flow_file=flow_file,
        triggers=tuple(triggers),
        tasks=tuple(tasks),
        policies=parse_policies(sec),
        retention=parse_retention(sec),
        source=sec.report.source,
        line=sec.line,
    )
    _unique_ids(sec, flow)
    if problem:
        return None
    _dangling(sec, flow, [*trigger_uses, *uses])
    _outputs(sec, flow)
    return flow


def _nodes(sec: Section, key: str, *, in_triggers: bool) -> tuple[list[Node], list[TagUse]]:
    nodes: list[Node] = []
    uses: list[TagUse] = []
    for _, node_sec in sec.sections(key):
        node, node_uses = parse_node(node_sec, in_triggers)
        uses.extend(node_uses)
        if node is not None:
            nodes.append(node)
    return nodes, uses


def _unique_ids(sec: Section, flow: Flow) -> None:
    lines: dict[str, list[int]] = defaultdict(list)
    for node in (*flow.triggers, *flow.tasks):
        lines[node.id].append(node.line)
    for node_id, at in lines.items():
        if len(at) > 1:
            where = ", ".join(str(n) for n in at)
            sec.report.error(
                at[1], sec.key_path("tasks"), f"{len(at)} nodes have id: {node_id} (lines {where})"
            )


def _dangling(sec: Section, flow: Flow, uses: list[TagUse]) -> None:
    can_emit = emittable(flow)
    for use in uses:
        if not can_emit(use.tag):
            sec.report.warn(use.line, use.key, f"no node emits {use.tag!r}{_hint(flow, use.tag)}")


FIXED_OUTPUTS = {  # the outputs of the task types that publish a fixed set
    "http": frozenset({"status", "headers", "body", "json"}),
    "git-checkout": frozenset({"checked-out-hash"}),
    "git-merge": frozenset({"merged-hash"}),
    "fetch": frozenset(),
    "timer": frozenset(),
}
FOREACH_OUTPUTS = frozenset({"items", "good", "total"})


def _outputs(sec: Section, flow: Flow) -> None:
    """References to `tasks.<id>.outputs.<name>` must name a task of the flow, and an output that
    its type publishes (exec and data tasks publish what they are given, so any name goes)."""
    for i, node in enumerate(flow.tasks):
        refs = {ref for text in _strings(node.opts) for ref in output_refs(text)}
        items = node.foreach.items if node.foreach is not None else ()
        for expr in (node.when, items if isinstance(items, str) else ""):
            refs |= output_refs(expr, expression=True) if expr else set()
        where = f"{sec.key_path('tasks')}[{i}]"
        if isinstance(items, str):
            _foreach_field(sec, flow, node, items, where)
        for task_id, name in sorted(refs):
            other, ref = flow.node(task_id), f"tasks.{task_id}.outputs.{name}"
            if other is None or other.cls is not NodeClass.TASK:
                sec.report.error(node.line, where, f"{ref}: no task {task_id!r}")
                continue
            fixed = FOREACH_OUTPUTS if other.foreach is not None else FIXED_OUTPUTS.get(other.type)
            if fixed is not None and name not in fixed:
                kind = f"foreach {other.type}" if other.foreach is not None else other.type
                known = ", ".join(sorted(fixed)) or "none"
                sec.report.error(node.line, where, f"{ref}: a {kind} task has no such output ({known})")


def _foreach_field(sec: Section, flow: Flow, node: Node, items: str, where: str) -> None:
    """`foreach: values.<field>` over a form field that can only hold one value is an error."""
    name = items.removeprefix("values.")
    if name == items or not name.replace("_", "").replace("-", "").isalnum():
        return
    for trig in flow.triggers:
        field = next((f for f in trig.fields if f.id == name), None)
        if field is not None and field.type != "list":
            sec.report.error(
                node.line, f"{where}.foreach", f"{items} is a {field.type} field of {trig.id}, not a list"
            )


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k not in STATIC_KEYS for s in _strings(v)]
    return []


def _hint(flow: Flow, tag: str) -> str:
    parts = tag.split(".")
    if len(parts) < 2 or parts[0] not in ("task", "merge"):
        return ""
    node = flow.node(parts[1])
    if node is not None:
        if node.cls is NodeClass.TRIGGER:
            return f" ({node.id!r} is a trigger; triggers emit 'trigger.good')"
        if node.cls is NodeClass.MERGE:
            return f" (did you mean 'merge.{node.id}.good'?)"
        if node.cls is NodeClass.TASK and node.type == "end":
            return f" ({node.id!r} is an end node, which emits nothing)"
        if node.cls is NodeClass.TASK and parts[0] != "task":
            return f" (did you mean 'task.{node.id}.good'?)"
        return ""
    close = suggest(parts[1], [n.id for n in flow.tasks])
    return f" (no node has id {parts[1]!r}; {close.strip(' ()')})" if close else ""
