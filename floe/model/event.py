"""Events and their tags: the one currency of the hub."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TRIGGER_GOOD = "trigger.good"
SYS_STATE = "sys.state"
SYS_NODE_START = "sys.node.start"
SYS_NODE_UPDATE = "sys.node.update"
SYS_DATA_REQUIRED = "sys.data.required"
SYS_END_ALL = "sys.end.all"
SYS_MOVED = "sys.moved"  # a pend was handed to another host: follow the run there (not stored)
INBOUND_PREFIX = "inbound."


def task_tag(node_id: str, sub: str) -> str:
    return f"task.{node_id}.{sub}"


def inbound_tag(trigger_type: str) -> str:
    """floe's tag of what came in to start a run: `inbound.data`, `inbound.timer`, ..."""
    return INBOUND_PREFIX + trigger_type


def merge_tag(node_id: str) -> str:
    return f"merge.{node_id}.good"


@dataclass(frozen=True, slots=True)
class Event:
    """`{run, flow, source node, tag, good, opts}`; `seq` orders events of one run."""

    run_id: str
    flow: str
    tag: str
    source: str = ""
    good: bool = True
    opts: Mapping[str, Any] = field(default_factory=dict)
    seq: int = 0
    at: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "flow": self.flow,
            "source_node": self.source,
            "tag": self.tag,
            "good": self.good,
            "opts": dict(self.opts),
            "seq": self.seq,
            "at": self.at,
        }
