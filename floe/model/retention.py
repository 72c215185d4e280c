"""Retention: which archived runs and workspaces a flow keeps (a pure decision, no IO)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T", int, float)

DAY = 86400.0
DEFAULT_WORKSPACE_RUNS = 10  # workspaces of the newest runs of a flow kept when nothing is configured
SINGLE = "single"  # the one workspace of a reuse-space flow: it belongs to the flow, never removed


@dataclass(frozen=True, slots=True)
class Retention:
    """A retention policy; None means "not set here" (a flow's setting overrides `common`'s)."""

    keep_runs: int | None = None  # archived runs kept: the newest N (failed ones kept longer aside)
    keep_days: float | None = None  # archived runs kept: those created in the last D days
    keep_failed_days: float | None = None  # bad runs: kept D days, whatever keep-runs says
    workspace_runs: int | None = None  # workspaces kept: those of the newest N archived runs

    @property
    def workspaces_kept(self) -> int:
        return DEFAULT_WORKSPACE_RUNS if self.workspace_runs is None else self.workspace_runs

    def over(self, base: Retention) -> Retention:
        """This policy, its unset keys taken from `base`."""
        return Retention(
            keep_runs=_first(self.keep_runs, base.keep_runs),
            keep_days=_first(self.keep_days, base.keep_days),
            keep_failed_days=_first(self.keep_failed_days, base.keep_failed_days),
            workspace_runs=_first(self.workspace_runs, base.workspace_runs),
        )


@dataclass(frozen=True, slots=True)
class Archived:
    """What the decision needs of one archived run."""

    run_id: str
    created: float
    failed: bool = False


@dataclass(frozen=True, slots=True)
class Cleanup:
    """What to delete: archived run records (with their events), and workspace directory names."""

    runs: tuple[str, ...] = ()
    workspaces: tuple[str, ...] = ()


def plan(
    archived: Sequence[Archived],
    workspaces: Collection[str],
    held: Collection[str],
    policy: Retention,
    now: float,
) -> Cleanup:
    """What one flow deletes under `policy` at `now`.

    `archived`: the flow's archived runs (any order); `workspaces`: the names of its workspace
    directories; `held`: ids never touched (pending and active runs, and the runs that pending or
    active re-runs re-run). Without keep-runs and keep-days every archived run is kept. A run is
    deleted when it is beyond the newest keep-runs or older than keep-days; with keep-failed-days a
    bad run is instead deleted only once older than that (and takes none of the keep-runs places).
    The workspaces kept are those of the newest workspace-runs surviving runs; a directory that is
    no archived run's (another's, or one floe does not know) is left alone."""
    newest = sorted(archived, key=lambda a: (a.created, a.run_id), reverse=True)
    doomed: list[str] = []
    if policy.keep_runs is not None or policy.keep_days is not None:
        rank = 0
        for run in newest:
            age = now - run.created
            if run.failed and policy.keep_failed_days is not None:
                gone = age > policy.keep_failed_days * DAY
            else:
                gone = (policy.keep_runs is not None and rank >= policy.keep_runs) or (
                    policy.keep_days is not None and age > policy.keep_days * DAY
                )
                rank += 1
            if gone and run.run_id not in held:
                doomed.append(run.run_id)
    deleted = set(doomed)
    survivors = [r.run_id for r in newest if r.run_id not in deleted]
    kept = set(survivors[: policy.workspaces_kept])
    known = {r.run_id for r in newest}
    spaces = sorted(
        name
        for name in workspaces
        if name != SINGLE and name not in held and name in known and name not in kept
    )
    return Cleanup(runs=tuple(doomed), workspaces=tuple(spaces))


def _first(value: T | None, base: T | None) -> T | None:
    return base if value is None else value
