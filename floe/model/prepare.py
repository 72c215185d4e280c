"""What a task starts with: its opts from the flow file, templates filled from the run's data, the
`when` decision and the `foreach` items (pure)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from floe.model.flow import Flow, Node
from floe.model.opts import merge_opts
from floe.model.template import TemplateError, evaluate, render_opts, value_of

if TYPE_CHECKING:
    from floe.model.run import Run

TRIGGER_ONLY_OPTS = ("form", "secret", "document")  # a trigger's own opts that never reach its tasks
MAX_ITEMS = 1000  # a foreach over more items than this fails the node


@dataclass(frozen=True, slots=True)
class Prepared:
    """The rendered opts of a task, or of each of its foreach items (with the items themselves)."""

    opts: Mapping[str, Any]
    items: tuple[Any, ...] = ()
    each: tuple[Mapping[str, Any], ...] = ()


def task_opts(flow: Flow, trigger: str, node: Node) -> dict[str, Any]:
    """The opts a task reads: its run's trigger's opts as the flow file has them (but `form` and
    `secret`), then its own (the node wins per key; two `env` lists are concatenated). Values a
    trigger was given and results of upstream tasks are data, never opts: they reach the task
    as `Start.values` and through templates."""
    trig = flow.trigger(trigger)
    base = {k: v for k, v in trig.opts.items() if k not in TRIGGER_ONLY_OPTS} if trig is not None else {}
    return merge_opts(base, dict(node.opts))


def context(run: Run, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """What templates and `when` read: `values` (the data that reached the node: trigger values,
    gate answers, its upstream's outputs), `tasks.<id>` (result, exit_status, outputs, and a
    gate's values) and `run` (id, flow, trigger)."""
    tasks = {
        n.id: {
            "status": (nr := run.node(n.id)).status.value or "idle",
            "result": nr.result,
            "exit_status": nr.exit_status,
            "outputs": dict(nr.outputs),
            "values": dict(nr.values),
        }
        for n in run.flow.tasks
    }
    return {
        "values": dict(inputs),
        "tasks": tasks,
        "run": {"id": run.run_id, "flow": run.flow.id, "trigger": run.trigger},
    }


class _Context(Mapping[str, Any]):
    """`context(run, inputs)`, built on first read: a node without templates never reads it, and
    building it reads every task of the run (a 100-task chain built it 100 times over)."""

    def __init__(self, run: Run, inputs: Mapping[str, Any]) -> None:
        self._run, self._inputs = run, inputs
        self._built: dict[str, Any] | None = None

    def _get(self) -> dict[str, Any]:
        if self._built is None:
            self._built = context(self._run, self._inputs)
        return self._built

    def __getitem__(self, key: str) -> Any:
        return self._get()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._get())

    def __len__(self) -> int:
        return len(self._get())


def should_run(node: Node, ctx: Mapping[str, Any]) -> bool:
    """Whether the node's `when` holds (TemplateError when it cannot be evaluated)."""
    return not node.when or evaluate(node.when, ctx)


def prepare(run: Run, node: Node, inputs: Mapping[str, Any]) -> Prepared:
    """The node's opts with templates filled, and for a foreach node each item's (TemplateError)."""
    opts = task_opts(run.flow, run.trigger, node)
    ctx = _Context(run, inputs)
    if node.foreach is None:
        return Prepared(render_opts(opts, ctx))
    spec = node.foreach.items
    if isinstance(spec, str):
        items = _items(spec, ctx)
    else:
        items = tuple(render_opts({"item": list(spec)}, ctx)["item"])
    if len(items) > MAX_ITEMS:
        raise TemplateError(f"foreach gives {len(items)} items, more than {MAX_ITEMS}")
    each = tuple(
        render_opts(opts, {**ctx, "item": item, "index": i, "items": list(items)})
        for i, item in enumerate(items)
    )
    return Prepared(opts, items, each)


def _items(expr: str, ctx: Mapping[str, Any]) -> tuple[Any, ...]:
    value = value_of(expr, ctx, "foreach")
    if not isinstance(value, list | tuple):
        raise TemplateError(f"foreach {expr!r} is {type(value).__name__}, not a list")
    return tuple(value)
