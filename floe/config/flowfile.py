"""floe's flow-file override: a flow's definition completed by the document its `flow-file` names,
and the resolver the hub asks for it at trigger time (`FlowFiles`; `sources.SourceFlowFiles` is one)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Protocol

from floe.config.errors import ConfigError, Problem
from floe.model.flow import Flow


class FlowFiles(Protocol):
    async def resolve(self, flow: Flow) -> Flow:
        """The flow with its `flow-file` merged in (a new Flow; the loaded config is never changed);
        raises floe.config.errors.FlowFileError when it cannot be had."""


def merge_flow_file(flow: Flow, doc: Flow) -> Flow:
    """A new flow: `doc` overrides name, host-tags, resource-tags, env and tasks when non-empty, and
    always reuse-space; id, ver, triggers and flow-file stay the flow's. Neither input is changed.
    A task id that collides with a trigger id raises ConfigError."""
    tasks = doc.tasks or flow.tasks
    counts = Counter(n.id for n in (*flow.triggers, *tasks))
    clashes = [node_id for node_id, n in counts.items() if n > 1]
    if clashes:
        raise ConfigError(
            Problem(doc.source or flow.source, doc.line, "tasks", f"{counts[i]} nodes have id: {i}")
            for i in clashes
        )
    return dataclasses.replace(
        flow,
        name=doc.name or flow.name,
        host_tags=doc.host_tags or flow.host_tags,
        resource_tags=doc.resource_tags or flow.resource_tags,
        env=doc.env or flow.env,
        tasks=tasks,
        reuse_space=doc.reuse_space,
    )
