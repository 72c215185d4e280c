"""What runs a task node, by its `type` (`EXECUTORS`; data, end and merges are the hub's own)."""

from __future__ import annotations

from floe.nodes import exec as exec_task
from floe.nodes import fetch, git, http, timer
from floe.nodes.base import TaskType

EXECUTORS: dict[str, TaskType] = {
    "exec": exec_task.execute,
    "fetch": fetch.execute,
    "git-checkout": git.checkout,
    "git-merge": git.merge,
    "http": http.execute,
    "timer": timer.execute,
}
