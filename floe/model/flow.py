"""Frozen records of a loaded flow: its triggers, tasks, merges and data-form fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from floe.model.retention import Retention


class NodeClass(StrEnum):
    TRIGGER = "trigger"
    TASK = "task"
    MERGE = "merge"


@dataclass(frozen=True, slots=True)
class FormField:
    """One typed field of a data form (floe's `text` is `string`)."""

    id: str
    prompt: str = ""
    type: str = "string"  # string | int | bool | choice
    required: bool = False
    regex: str | None = None
    options: tuple[str, ...] = ()
    default: Any = None


@dataclass(frozen=True, slots=True)
class Foreach:
    """Run a task once per item of a list: `items` is an expression (or a YAML list), at most
    `concurrency` at once and `rate` starts a second; the node is good when all (or any) are."""

    items: str | tuple[Any, ...]
    concurrency: int = 1
    rate: float | None = None
    result: str = "all"  # all | any


@dataclass(frozen=True, slots=True)
class Node:
    """A trigger, task or merge of a flow. `opts` is free-form and travels on as values."""

    id: str
    name: str
    cls: NodeClass
    type: str
    listen: str = ""
    wait: tuple[str, ...] = ()
    good: tuple[int, ...] = (0,)
    ignore_fail: bool = False
    use_status: bool = False
    timeout: float | None = None
    retries: int = 0
    backoff: float = 0.0
    opts: Mapping[str, Any] = field(default_factory=dict)
    fields: tuple[FormField, ...] = ()  # parsed opts.form.fields of data triggers and data tasks
    line: int = 0  # 1-based line in the source file, 0 when unknown
    when: str = ""  # an expression: the node is skipped when it is false
    foreach: Foreach | None = None
    artifacts: tuple[str, ...] = ()  # workspace globs of the files kept with the run


@dataclass(frozen=True, slots=True)
class Policy:
    """An admission rule checked before a pend exists (a rejection names the policy)."""

    name: str
    max_concurrent: int | None = None  # pending + active runs of the flow (on postgres, the cluster's)
    rate: float | None = None  # tokens per second of a token bucket...
    burst: int = 1  # ...holding this many
    trigger: str = ""  # only this trigger ("" for every trigger of the flow)
    allow: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # field -> allowed glob patterns


@dataclass(frozen=True, slots=True)
class Flow:
    """A flow definition; `(id, ver)` is its FlowRef."""

    id: str
    ver: int = 0
    name: str = ""
    reuse_space: bool = False
    host_tags: tuple[str, ...] = ()
    resource_tags: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    flow_file: str = ""
    triggers: tuple[Node, ...] = ()
    tasks: tuple[Node, ...] = ()  # tasks and merges, in file order
    policies: tuple[Policy, ...] = ()
    retention: Retention = field(
        default_factory=Retention
    )  # overrides of common.retention (keys left unset: None)
    source: str = ""  # file the flow came from
    line: int = 0
    _by_id: Mapping[str, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # the hub looks nodes up on every event: index them once (the first of an id wins)
        by_id: dict[str, Node] = {}
        for n in (*self.triggers, *self.tasks):
            by_id.setdefault(n.id, n)
        object.__setattr__(self, "_by_id", by_id)

    def node(self, node_id: str) -> Node | None:
        return self._by_id.get(node_id)

    def trigger(self, node_id: str) -> Node | None:
        return next((t for t in self.triggers if t.id == node_id), None)
