"""`floe lint FILE...`: check host configs and flow-file documents, show each flow's graph levels."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from floe.config.errors import ConfigError
from floe.config.load import FlowDocument, parse_any, read_source
from floe.model.flow import Flow
from floe.model.graph import levels


def describe(flow: Flow) -> str:
    """One line: the flow's ref and its graph levels, e.g. `flow build (ver 1): L0 start | L1 checkout`."""
    head = f"flow {flow.id or '(no id)'} (ver {flow.ver})"
    layout = levels(flow)
    text = " | ".join(f"L{i} {', '.join(ids) or '-'}" for i, ids in enumerate(layout))
    placed = {node_id for level in layout for node_id in level}
    unplaced = [n.id for n in flow.tasks if n.id not in placed]
    if unplaced:
        text += f"; not reachable from trigger.good: {', '.join(unplaced)}"
    if flow.flow_file and not flow.tasks:
        text += f"; tasks come from flow-file {flow.flow_file}"
    return f"{head}: {text}"


def lint(paths: Sequence[str], out: TextIO) -> int:
    """Check each file, print its flows and every problem as `FILE:LINE: key: message` (a syntax
    error as `FILE:LINE:COLUMN: message` and the line itself); 1 on any error."""
    status = 0
    for path in paths:
        try:
            result = parse_any(read_source(path), path)
        except ConfigError as exc:
            for problem in exc.problems:
                out.write(f"{problem.shown()}\n")
            out.write(f"{path}: {len(exc.errors)} error(s), {len(exc.warnings)} warning(s)\n")
            status = 1
            continue
        flows: tuple[Flow, ...]
        if isinstance(result, FlowDocument):
            kind, flows = "flow-file document", (result.flow,)
        else:
            kind, flows = "host config", result.flows
        out.write(f"{path}: {kind}, {len(flows)} flow(s), {len(result.warnings)} warning(s)\n")
        for flow in flows:
            out.write(f"  {describe(flow)}\n")
        for problem in result.warnings:
            out.write(f"{problem}\n")
    return status
