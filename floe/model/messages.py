"""What the host reducer takes: requests from the API, results of running nodes and of hand-overs,
and the hub's own notes (a batch done, starts stored, the stored state recovered)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from floe.model.dispatch import HostView
from floe.model.errors import FloeError
from floe.model.flow import Flow
from floe.model.run import Run, Start

T_contra = TypeVar("T_contra", contravariant=True)


class Reply(Protocol[T_contra]):
    """Where a request's answer goes (the hub's asyncio future); the reducer only names it."""

    def done(self) -> bool: ...
    def set_result(self, result: T_contra, /) -> None: ...
    def set_exception(self, exception: BaseException, /) -> None: ...


def _same(value: Any) -> Any:
    return value


@dataclass(frozen=True, slots=True)
class Trigger:
    """Create a pend of `flow` from trigger `trigger` with validated `values`."""

    flow: Flow
    trigger: str
    values: Mapping[str, Any]
    reply: Reply[str]
    by: str = ""


@dataclass(frozen=True, slots=True)
class Rerun:
    """Create a pend from an earlier run's snapshot and values (from one node on, when given)."""

    old: Run
    from_node: str
    reply: Reply[str]
    by: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    """Values for a waiting data task; `mask` is applied to them once they are valid."""

    run_id: str
    node_id: str
    values: Mapping[str, Any]
    reply: Reply[None]
    by: str = ""
    mask: Callable[[Any], Any] = _same


@dataclass(frozen=True, slots=True)
class Cancel:
    run_id: str
    reason: str
    reply: Reply[None]
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
    """The run's task is gone (cancelled): after a cancel the run is archived."""

    run_id: str


@dataclass(frozen=True, slots=True)
class Accept:
    """A peer hands this host a pend (its resources already reserved): run it now, or say why not."""

    run: Run
    reply: Reply[str]  # "" when running here, else the reason


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
class Claimed:
    """What a claim on the cluster's database took for this host (the runs as stored, to start here)
    and why each pend it did not take still waits, by run id."""

    runs: tuple[Run, ...]
    reasons: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Admitted:
    """The cluster's database answered an Admit: `refused` is None when run `run_id` was admitted,
    else why not (a policy's Rejected, or the database's StoreError)."""

    request: Trigger | Rerun
    run_id: str
    refused: FloeError | None = None

    @property
    def reply(self) -> Reply[str]:
        """The request's reply (a refusal fails it)."""
        return self.request.reply


@dataclass(frozen=True, slots=True)
class ClaimedBy:
    """Host `host` claimed pend `run_id` from the cluster's database: it runs there, not here."""

    run_id: str
    host: str


@dataclass(frozen=True, slots=True)
class TakenOver:
    """A run of a lost host moved to this host (as stored): it waits here on its data gate, or
    runs again here the interrupted tasks whose `retries` allow another attempt (`starts`). Or a
    pend of the lost host, or one it had claimed and never started: made claimable again (and,
    made here, held here again until a host claims it anew: this one, or another: ClaimedBy)."""

    run: Run
    starts: tuple[Start, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseLost:
    """This host's lease had expired and another host took it over (it was hung, or cut off from
    the database): every run active here was resolved by that host."""

    reply: Reply[None]


@dataclass(frozen=True, slots=True)
class Wake:
    """Something changed elsewhere (a peer came up, a run ended): try pending runs again."""


@dataclass(frozen=True, slots=True)
class Halt:
    """The stop switch: halt dispatch of one flow, of every flow ("*") or by the stop file."""

    scope: str
    reason: str


@dataclass(frozen=True, slots=True)
class Resume:
    scope: str


@dataclass(frozen=True, slots=True)
class Record:
    """An entry for the audit trail that no run change of the host made (a login, a stop...)."""

    by: str
    action: str
    flow: str = ""
    run_id: str = ""
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Peers:
    """The other hosts as the heartbeat last saw them."""

    views: tuple[HostView, ...]


@dataclass(frozen=True, slots=True)
class Settle:
    """The hub handled a batch of messages: write what changed; `at` is a monotonic time."""

    at: float


@dataclass(frozen=True, slots=True)
class PersistDue:
    """The delay of a held-back write of busy runs is over."""


@dataclass(frozen=True, slots=True)
class Stored:
    """The store has written everything up to these held starts: they may start now."""

    held: tuple[tuple[str, tuple[Start, ...]], ...]


@dataclass(frozen=True, slots=True)
class Recovered:
    """What the store held at start: pending runs, this host's active runs (their last event seq
    read), each run's lines about processes killed since (node, line), and the host's counters."""

    pending: tuple[Run, ...] = ()
    active: tuple[Run, ...] = ()
    killed: Mapping[str, tuple[tuple[str, str], ...]] = field(default_factory=dict)
    stopped: Mapping[str, str] = field(default_factory=dict)
    audit_seq: int = 0
    last_id: int = 0


Message = (
    Trigger
    | Rerun
    | Answer
    | Cancel
    | Lines
    | NodeDone
    | Stopped
    | Accept
    | Offered
    | Reserved
    | Claimed
    | Admitted
    | ClaimedBy
    | TakenOver
    | LeaseLost
    | Wake
    | Halt
    | Resume
    | Record
    | Peers
    | Settle
    | PersistDue
    | Stored
    | Recovered
)
