"""What a task type receives (NodeContext) and returns (Outcome)."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from floe.model.flow import Node
from floe.model.opts import OptError, build_env, opt_str_list, value_env

RUN_VAR = "FLOE_RUN_ID"  # in every task process's environment: a restarted host finds leftovers by it
NODE_VAR = "FLOE_NODE_ID"


class NodeError(Exception):
    """A task could not run (bad opts, unreachable URL, missing program): becomes `task.<id>.error`."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished task: its exit status and the opts it passes on."""

    status: int
    opts: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeContext:
    """Everything a task needs: its node, its opts, the run's data, workspace and a line logger."""

    run_id: str
    flow_id: str
    node: Node
    opts: Mapping[
        str, Any
    ]  # from the flow file only: the trigger's opts, then the node's (model.prepare.task_opts)
    flow_env: tuple[str, ...]  # the flow's `env`, applied before the task's own
    workspace: Path
    cache_dir: Path  # host-wide fetch cache
    log: Callable[[str], None]  # one output line, without its newline
    git_key: str = ""
    grace: float = 5.0  # seconds between SIGTERM and SIGKILL on cancel
    secrets: Mapping[str, str] = field(default_factory=dict)  # `${secret:NAME}` values for env entries
    host_env: Mapping[str, str] = field(default_factory=lambda: os.environ)  # the hub passes a start-up copy
    values: Mapping[str, Any] = field(default_factory=dict)  # the run's data: never opts, only FLOE_VALUE_*

    def process_env(self) -> dict[str, str]:
        """The environment of the task's processes: the host's, the run's data as `FLOE_VALUE_*`,
        the flow's and the task's `env` (which may use `$FLOE_VALUE_*`), `FLOEWS`, and the run and
        node ids (`FLOE_RUN_ID`, `FLOE_NODE_ID`)."""
        try:
            env = build_env(
                {**self.host_env, **value_env(self.values)},
                self.flow_env,
                opt_str_list(self.opts, "env"),
                str(self.workspace),
                self.secrets,
            )
        except OptError as exc:
            raise NodeError(str(exc)) from exc
        env[RUN_VAR], env[NODE_VAR] = self.run_id, self.node.id
        return env


TaskType = Callable[[NodeContext], Awaitable[Outcome]]
