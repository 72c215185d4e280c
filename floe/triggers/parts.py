"""What the triggers use of their host: its store, its current config, its clock, and run starts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from floe.config import HostConfig
from floe.model.flow import Flow
from floe.store.base import RunStore


class StartRun(Protocol):
    """Creates a pend of `flow` by its trigger `trigger_id` (the hub's `trigger`); its run id."""

    def __call__(
        self, flow: Flow, trigger_id: str, values: Mapping[str, Any], by: str = ""
    ) -> Awaitable[str]: ...


@dataclass(frozen=True, slots=True)
class TriggerParts:
    """Handed to the triggers by the composition root (`floe/host.py`): `config()` is the running
    config (a reload replaces it), `start` creates a run once its pend is durable."""

    store: RunStore
    config: Callable[[], HostConfig]
    start: StartRun
    clock: Callable[[], float]
