"""Pure placement rules: which host may run a pend now, and if none, why not."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from floe.model.flow import Flow


@dataclass(frozen=True, slots=True)
class Holder:
    """An active (or reserved) run that may block another: its id, host and flow."""

    run_id: str
    host: str
    flow: Flow


@dataclass(frozen=True, slots=True)
class HostView:
    """A host as placement sees it: `active` runs in all, `running` of them not waiting on a data
    gate, and the most it takes at once (`max_runs`, 0: any number)."""

    id: str
    tags: frozenset[str]
    online: bool = True
    active: int = 0
    running: int = 0
    max_runs: int = 0

    @property
    def full(self) -> bool:
        """It is at its max-runs: it takes no run now."""
        return 0 < self.max_runs <= self.running

    def took(self) -> HostView:
        """The host as it is once a run is placed on it."""
        return replace(self, active=self.active + 1, running=self.running + 1)


FULL = "every host that fits is at its max-runs"


def tags_match(host_tags: Iterable[str], flow_tags: Iterable[str]) -> bool:
    """A host runs a flow when it has every one of the flow's host-tags."""
    return set(flow_tags) <= set(host_tags)


def conflict(flow: Flow, host: str, holders: Iterable[Holder]) -> str:
    """Why `flow` cannot start on `host` beside `holders`, or "" when it can.

    Resource tags conflict anywhere in the cluster; `reuse-space` conflicts only with a run of the
    same flow on the same host (it shares that host's `ws/single`; floe blocked every other flow too).
    """
    mine = set(flow.resource_tags)
    if not mine and not flow.reuse_space:
        return ""
    for h in holders:
        shared = mine & set(h.flow.resource_tags)
        if shared:
            return f"resource {', '.join(sorted(shared))} held by run {h.run_id}"
        if flow.reuse_space and h.flow.id == flow.id and h.host == host and h.flow.reuse_space:
            return f"reuse-space workspace in use by run {h.run_id}"
    return ""


def place(
    flow: Flow, hosts: Sequence[HostView], holders: Iterable[Holder], prefer: str = ""
) -> tuple[str, str]:
    """Choose the least busy live host that fits (`prefer` on a tie: no hand-over needed):
    `(host_id, "")`, or `("", reason)`."""
    held = list(holders)
    tagged = [h for h in hosts if tags_match(h.tags, flow.host_tags)]
    if not tagged:
        return "", f"no host with tags {', '.join(flow.host_tags)}"
    live = [h for h in tagged if h.online]
    if not live:
        return "", "host " + ", ".join(h.id for h in tagged) + " unreachable"
    live = [h for h in live if not h.full]
    if not live:
        return "", FULL
    reasons = []
    for h in sorted(live, key=lambda h: (h.active, h.id != prefer, h.id)):
        why = conflict(flow, h.id, held)
        if not why:
            return h.id, ""
        reasons.append(why)
    return "", reasons[0]
