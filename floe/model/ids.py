"""The one rule for the ids that name paths and addresses: flows, nodes, triggers, hosts and runs."""

from __future__ import annotations

import re
from typing import TypeGuard

MAX_ID = 128
# floe rejected spaces and dots; slashes, backslashes and control characters are refused too, since
# ids name directories (`spaces/<flow>/ws/<run>`) and parts of URLs
ID = re.compile(rf"[^\s./\\\x00-\x1f\x7f]{{1,{MAX_ID}}}")
RUN_ID = re.compile(rf"[^\s./\\\x00-\x1f\x7f]{{1,{MAX_ID}}}-[0-9]{{1,18}}")  # `<host id>-<counter>`


def valid_id(value: object) -> TypeGuard[str]:
    """A flow, node, trigger or host id: 1-128 characters, none a space, dot, slash or control."""
    return isinstance(value, str) and ID.fullmatch(value) is not None


def valid_run_id(value: object) -> TypeGuard[str]:
    """A run id: `<host id>-<counter>` (`h1-7`)."""
    return isinstance(value, str) and RUN_ID.fullmatch(value) is not None
