"""In-memory status of a host's triggers (last and next fire, last error) for the API and the log."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from floe.config import HostConfig
from floe.model.flow import Flow, Node


@dataclass(frozen=True, slots=True)
class TriggerKey:
    """One trigger of one flow version; `label` names its durable state (`<flow>` for the highest
    version of the flow in the config, `<flow>@<ver>` for older ones)."""

    flow_id: str
    ver: int
    trigger_id: str
    label: str

    def state_key(self, kind: str) -> str:
        """The store kv key of this trigger's state, e.g. `timer/build/nightly`."""
        return f"{kind}/{self.label}/{self.trigger_id}"

    def current(self, config: HostConfig) -> tuple[Flow, Node] | None:
        """The flow and trigger as `config` has them (None once a reload removed them)."""
        flow = config.flow(self.flow_id, self.ver or None)
        if flow is None or flow.ver != self.ver:
            return None
        trig = flow.trigger(self.trigger_id)
        return None if trig is None else (flow, trig)

    def __str__(self) -> str:
        return (
            f"{self.flow_id}/{self.trigger_id}"
            if "@" not in self.label
            else f"{self.label}/{self.trigger_id}"
        )


def trigger_keys(config: HostConfig, trigger_type: str | None = None) -> list[tuple[TriggerKey, Node]]:
    """Every trigger of `config` (of `trigger_type` when given), with its key."""
    highest: dict[str, int] = {}
    for f in config.flows:
        highest[f.id] = max(highest.get(f.id, f.ver), f.ver)
    out = []
    for f in config.flows:
        label = f.id if f.ver == highest[f.id] else f"{f.id}@{f.ver}"
        for t in f.triggers:
            if trigger_type is None or t.type == trigger_type:
                out.append((TriggerKey(f.id, f.ver, t.id, label), t))
    return out


@dataclass(slots=True)
class _Entry:
    type: str
    last_fire: float | None = None
    last_run: str | None = None
    next_fire: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    fires: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "last_fire": self.last_fire,
            "last_run": self.last_run,
            "next_fire": self.next_fire,
            "last_error": self.last_error,
            "last_error_at": self.last_error_at,
            "fires": self.fires,
        }


class TriggerStatus:
    """Per trigger: last and next fire, last error. Kept in memory only (the durable schedule and
    poll state live in the store's kv); the trigger tasks and the webhook handler write it."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, int, str], _Entry] = {}

    @staticmethod
    def _id(key: TriggerKey) -> tuple[str, int, str]:
        return (key.flow_id, key.ver, key.trigger_id)

    def register(self, key: TriggerKey, trigger_type: str) -> None:
        """Make the trigger known (nothing fired yet), keeping what it had if its type is unchanged."""
        entry = self._entries.get(self._id(key))
        if entry is None or entry.type != trigger_type:
            self._entries[self._id(key)] = _Entry(trigger_type)

    def retain(self, keys: set[TriggerKey]) -> None:
        """Forget every trigger not in `keys` (a reload removed it)."""
        keep = {self._id(k) for k in keys}
        for ident in list(self._entries):
            if ident not in keep:
                del self._entries[ident]

    def _get(self, key: TriggerKey) -> _Entry:
        return self._entries.setdefault(self._id(key), _Entry("unknown"))

    def scheduled(self, key: TriggerKey, at: float | None) -> None:
        self._get(key).next_fire = at

    def fired(self, key: TriggerKey, at: float, run_id: str) -> None:
        entry = self._get(key)
        entry.last_fire, entry.last_run = at, run_id
        entry.fires += 1

    def failed(self, key: TriggerKey, message: str, at: float) -> None:
        entry = self._get(key)
        entry.last_error, entry.last_error_at = message, at

    def healthy(self, key: TriggerKey) -> None:
        """The trigger works again (a poll succeeded): its last error is cleared."""
        entry = self._get(key)
        entry.last_error = entry.last_error_at = None

    def status_of(self, flow_id: str, ver: int | None = None) -> dict[str, dict[str, Any]]:
        """`{trigger_id: {type, last_fire, last_run, next_fire, last_error, last_error_at, fires}}` of
        the flow at `ver` (the highest version known here when `ver` is None or 0)."""
        vers = [v for (f, v, _) in self._entries if f == flow_id]
        if not vers:
            return {}
        want = ver if ver else max(vers)
        return {t: e.view() for (f, v, t), e in sorted(self._entries.items()) if f == flow_id and v == want}
