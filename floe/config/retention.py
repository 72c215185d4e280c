"""Parsing a `retention` mapping (of `common` or of a flow): how long runs and workspaces are kept."""

from __future__ import annotations

from floe.config.reader import Section
from floe.model.retention import Retention

RETENTION_KEYS = frozenset({"keep-runs", "keep-days", "keep-failed-days", "workspaces"})
WORKSPACE_KEYS = frozenset({"keep-runs"})


def parse_retention(sec: Section) -> Retention:
    """The `retention` of `sec` (all unset when absent); faults go to the section's report."""
    ret = sec.section("retention")
    if ret is None:
        return Retention()
    ret.check_keys(RETENTION_KEYS, "retention")
    spaces = ret.section("workspaces")
    if spaces is not None:
        spaces.check_keys(WORKSPACE_KEYS, "retention.workspaces")
    return Retention(
        keep_runs=ret.integer("keep-runs", minimum=1),
        keep_days=ret.number("keep-days", positive=True),
        keep_failed_days=ret.number("keep-failed-days", positive=True),
        workspace_runs=None if spaces is None else spaces.integer("keep-runs", minimum=0),
    )
