"""What resolves a flow's `flow-file` at trigger time into the pend's own snapshot."""

from __future__ import annotations

from typing import Protocol

from floe.model.flow import Flow


class FlowFiles(Protocol):
    async def resolve(self, flow: Flow) -> Flow:
        """The flow with its `flow-file` merged in (a new Flow; the loaded config is never changed);
        raises floe.config.errors.FlowFileError when it cannot be had."""
