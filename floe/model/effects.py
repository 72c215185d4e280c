"""What the host reducer asks the hub to do, in order: a closed set of frozen records.

The hub carries each one out as it comes (floe/hub/effects.py); some answer later with a message
(Offer with Offered, Reserve with Reserved, Claim with Claimed, Admit with Admitted, AwaitStored
with Stored, PersistSoon with PersistDue).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from floe.model.flow import Flow
from floe.model.messages import Reply, Rerun, Trigger
from floe.model.run import Run, Start


@dataclass(frozen=True, slots=True)
class PutRun:
    """Write a run's document (its phase says pending, active, archive or moved)."""

    doc: dict[str, Any]


@dataclass(frozen=True, slots=True)
class AppendEvents:
    docs: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class PutKv:
    key: str
    value: Any


@dataclass(frozen=True, slots=True)
class Publish:
    """Tell the event stream (and, with `observe`, the host's observers) these events now."""

    docs: tuple[dict[str, Any], ...]
    observe: bool = True


@dataclass(frozen=True, slots=True)
class PublishStored:
    """Publish a run's last events once the store has committed its end."""

    docs: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class StartRunner:
    """Give the run a task of its own in its workspace: a fresh one (a copy of `workspace_from`'s
    for a partial re-run), or, after a restart, the one it has."""

    run: Run
    fresh: bool


@dataclass(frozen=True, slots=True)
class StartNodes:
    run_id: str
    starts: tuple[Start, ...]


@dataclass(frozen=True, slots=True)
class AwaitStored:
    """Once the store has written all that came before, answer with Stored(held)."""

    held: tuple[tuple[str, tuple[Start, ...]], ...]


@dataclass(frozen=True, slots=True)
class CancelTasks:
    """Cancel the run's task (and kill what its nodes run); Stopped follows when it is gone."""

    run_id: str


@dataclass(frozen=True, slots=True)
class Offer:
    """Hand a pend to another host; Offered follows."""

    run: Run
    host: str


@dataclass(frozen=True, slots=True)
class Reserve:
    """Ask the lock host for the run's resource tags; Reserved follows."""

    run_id: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Release:
    """Give the run's resource tags back to the lock host."""

    run_id: str


@dataclass(frozen=True, slots=True)
class AddPend:
    """Make the (stored) pend claimable by every host of the cluster's database."""

    run: Run


@dataclass(frozen=True, slots=True)
class Claim:
    """Claim the pends this host may take from the cluster's database; Claimed follows."""


@dataclass(frozen=True, slots=True)
class Admit:
    """Ask the cluster's database to admit run `run_id` (the id `request` takes) by its flow's
    policies counted across the cluster; Admitted follows."""

    request: Trigger | Rerun
    run_id: str
    flow: Flow
    trigger: str
    values: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Unadmit:
    """Drop the admission of run `run_id` in the cluster's database: the run was not made."""

    run_id: str


@dataclass(frozen=True, slots=True)
class PlaceState:
    """The run placed here waits on a data gate (`gate`: it does not count against max-runs) or
    runs again, at node `node`."""

    run_id: str
    gate: bool
    node: str


@dataclass(frozen=True, slots=True)
class Unplace:
    """The run placed here ended: free its placement and resource tags in the cluster's database."""

    run_id: str


@dataclass(frozen=True, slots=True)
class Unpend:
    """A pend ended before any host claimed it (cancelled): no host may claim it now."""

    run_id: str


@dataclass(frozen=True, slots=True)
class TellEnded:
    """Tell the host that adopted a run (and handed it here) that it ended."""

    host: str
    run_id: str
    status: str
    ended: float | None


@dataclass(frozen=True, slots=True)
class WakePeers:
    """A run ended here: the other hosts may place their pending runs now."""


@dataclass(frozen=True, slots=True)
class CountHanded:
    """A host took a pend from us: count it busier until its next hello says how busy it is."""

    host: str


@dataclass(frozen=True, slots=True)
class TookId:
    """The reducer handed out run id number `number` (of ids the store holds reserved)."""

    number: int


@dataclass(frozen=True, slots=True)
class Retain:
    """A run of the flow was archived here: retention may have work."""

    flow_id: str


@dataclass(frozen=True, slots=True)
class PersistSoon:
    """Send PersistDue after `delay` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class Resolve:
    reply: Reply[Any]
    value: Any


@dataclass(frozen=True, slots=True)
class Fail:
    reply: Reply[Any]
    error: BaseException


@dataclass(frozen=True, slots=True)
class Log:
    text: str
    level: int = logging.INFO


Effect = (
    PutRun
    | AppendEvents
    | PutKv
    | Publish
    | PublishStored
    | StartRunner
    | StartNodes
    | AwaitStored
    | CancelTasks
    | Offer
    | Reserve
    | Release
    | AddPend
    | Claim
    | Admit
    | Unadmit
    | PlaceState
    | Unplace
    | Unpend
    | TellEnded
    | WakePeers
    | CountHanded
    | TookId
    | Retain
    | PersistSoon
    | Resolve
    | Fail
    | Log
)
