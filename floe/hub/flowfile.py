"""Resolving a flow's `flow-file` at trigger time into the pend's own snapshot."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from floe.config import ConfigError, load_flow_document, merge_flow_file
from floe.model.flow import Flow


class FlowFileError(Exception):
    """A flow-file could not be read or is not a valid flow: the trigger starts nothing."""


class FlowFiles(Protocol):
    async def resolve(self, flow: Flow) -> Flow:
        """The flow with its `flow-file` merged in (a new Flow; the loaded config is never changed)."""


class LocalFlowFiles:
    """Reads `flow-file` paths relative to the directory of the config that names them."""

    async def resolve(self, flow: Flow) -> Flow:
        if not flow.flow_file:
            return flow
        path = Path(flow.flow_file)
        if not path.is_absolute():
            path = Path(flow.source).parent / path
        try:
            text = await asyncio.to_thread(path.read_bytes)
            return merge_flow_file(flow, load_flow_document(text, str(path)))
        except OSError as e:
            raise FlowFileError(f"flow-file {path}: {e.strerror or e}") from e
        except ConfigError as e:
            raise FlowFileError(f"flow-file {path} is not a valid flow:\n{e}") from e
