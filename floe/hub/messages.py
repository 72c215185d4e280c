"""What the hub's queue carries: requests from the API and results from running nodes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from floe.model.flow import Flow
from floe.model.run import Run


@dataclass(frozen=True, slots=True)
class Trigger:
    """Create a pend of `flow` from trigger `trigger` with validated `values`."""

    flow: Flow
    trigger: str
    values: Mapping[str, Any]
    reply: asyncio.Future[str]
    by: str = ""


@dataclass(frozen=True, slots=True)
class Rerun:
    """Create a pend from an earlier run's snapshot and values (from one node on, when given)."""

    old: Run
    from_node: str
    reply: asyncio.Future[str]
    by: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    run_id: str
    node_id: str
    values: Mapping[str, Any]
    reply: asyncio.Future[None]
    by: str = ""


@dataclass(frozen=True, slots=True)
class Cancel:
    run_id: str
    reason: str
    reply: asyncio.Future[None]
    by: str = ""


@dataclass(frozen=True, slots=True)
class Lines:
    """Output lines of a running node, in order: those it logged in one turn of the event loop."""

    run_id: str
    node_id: str
    lines: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NodeDone:
    run_id: str
    node_id: str
    status: int
    opts: Mapping[str, Any]
    error: str = ""
    artifacts: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class Stopped:
    """The run's node tasks are all gone (after a cancel): archive it."""

    run_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Accept:
    """A peer hands this host a pend (its resources already reserved): run it now, or say why not."""

    run: Run
    reply: asyncio.Future[str]  # "" when running here, else the reason


@dataclass(frozen=True, slots=True)
class Offered:
    """What became of handing a pend to `host`: taken, refused with `reason`, or unknown."""

    run_id: str
    host: str
    taken: bool
    reason: str
    unknown: bool = False


@dataclass(frozen=True, slots=True)
class Reserved:
    """The lock host answered for a pend this host will run: "" reserved, else why not."""

    run_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Wake:
    """Something changed elsewhere (a peer came up, a run ended): try pending runs again."""


Message = Trigger | Rerun | Answer | Cancel | Lines | NodeDone | Stopped | Accept | Offered | Reserved | Wake
