"""The tag graph of a flow: which tags can be emitted, who listens, and floe's level layout (pure)."""

from __future__ import annotations

from collections.abc import Callable

from floe.model.flow import Flow, Node, NodeClass

TRIGGER_GOOD = "trigger.good"


def emitted_tags(node: Node) -> frozenset[str]:
    """The fixed tags `node` can emit (a `use-status` task also emits `task.<id>.<status>`)."""
    if node.cls is NodeClass.TRIGGER:
        return frozenset({TRIGGER_GOOD})
    if node.cls is NodeClass.MERGE:
        return frozenset({f"merge.{node.id}.good"})
    if node.type == "end":
        return frozenset()
    skipped = {f"task.{node.id}.skipped"} if node.when else set()
    if node.type == "data":
        return frozenset({f"task.{node.id}.good", f"task.{node.id}.bad", *skipped})
    return frozenset({f"task.{node.id}.good", f"task.{node.id}.bad", f"task.{node.id}.error", *skipped})


def emittable(flow: Flow) -> Callable[[str], bool]:
    """A predicate: can some node of `flow` emit `tag`? (`trigger.good` always can.)"""
    fixed = {TRIGGER_GOOD}
    status_ids: set[str] = set()
    for node in flow.tasks:
        fixed |= emitted_tags(node)
        if node.cls is NodeClass.TASK and node.use_status and node.type not in ("end", "data"):
            status_ids.add(node.id)

    def can_emit(tag: str) -> bool:
        if tag in fixed:
            return True
        head, _, rest = tag.partition(".")
        node_id, _, status = rest.partition(".")
        return head == "task" and node_id in status_ids and _is_int(status)

    return can_emit


def _is_int(text: str) -> bool:
    digits = text[1:] if text[:1] in "+-" else text
    return digits.isdigit()


def listened_tags(node: Node) -> tuple[str, ...]:
    """The tags that start `node`: a task's listen, a merge's wait list."""
    if node.cls is NodeClass.MERGE:
        return node.wait
    if node.cls is NodeClass.TASK and node.listen:
        return (node.listen,)
    return ()


_INDEX: dict[int, tuple[Flow, dict[str, tuple[Node, ...]]]] = {}  # id(flow) -> (flow, tag -> listeners)


def listeners(flow: Flow, tag: str) -> tuple[Node, ...]:
    """Tasks listening to `tag` and merges waiting for it, in file order (indexed once per flow:
    a run routes every event through here)."""
    entry = _INDEX.get(id(flow))
    if entry is None or entry[0] is not flow:
        index: dict[str, list[Node]] = {}
        for n in flow.tasks:
            for t in dict.fromkeys(listened_tags(n)):
                index.setdefault(t, []).append(n)
        if len(_INDEX) >= 256:
            _INDEX.clear()
        entry = _INDEX[id(flow)] = (flow, {t: tuple(ns) for t, ns in index.items()})
    return entry[1].get(tag, ())


def _parent_id(tag: str) -> str | None:
    parts = tag.split(".")
    return parts[1] if len(parts) >= 3 and parts[1] else None


def edges(flow: Flow) -> list[tuple[str, str, str]]:
    """(from id, to id, tag) for drawing: `trigger.good` comes from every trigger, any other tag
    from the node its middle segment names (as floe's layout)."""
    ids = {n.id for n in flow.tasks}
    out: list[tuple[str, str, str]] = []
    for node in flow.tasks:
        for tag in listened_tags(node):
            if tag == TRIGGER_GOOD:
                out.extend((t.id, node.id, tag) for t in flow.triggers)
                continue
            parent = _parent_id(tag)
            if parent is not None and parent in ids:
                out.append((parent, node.id, tag))
    return out


def downstream(flow: Flow, node_id: str) -> set[str]:
    """`node_id` and every node that (transitively) listens to or waits on a tag it emits."""
    children: dict[str, list[str]] = {}
    for parent, child, _ in edges(flow):
        children.setdefault(parent, []).append(child)
    seen, todo = {node_id}, [node_id]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in seen:
                seen.add(child)
                todo.append(child)
    return seen


def levels(flow: Flow) -> list[list[str]]:
    """floe's layout: level 0 the triggers, level 1 the tasks on `trigger.good`, then each node one
    level below its deepest parent (the node named by a listened tag's middle segment); nodes not
    reachable from level 1 are left out; each level sorted by id."""
    parents: dict[str, list[str]] = {}
    roots: set[str] = set()
    for node in flow.tasks:
        tags = listened_tags(node)
        if TRIGGER_GOOD in tags:
            roots.add(node.id)
        parents[node.id] = [p for t in tags if (p := _parent_id(t)) is not None and p != node.id]
    children: dict[str, list[str]] = {}
    for child, ps in parents.items():
        for p in ps:
            children.setdefault(p, []).append(child)
    reachable = set(roots)
    todo = list(roots)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in reachable:
                reachable.add(child)
                todo.append(child)
    depth = _depths([n.id for n in flow.tasks if n.id in reachable], roots, parents)
    out: list[list[str]] = [sorted(t.id for t in flow.triggers)]
    for node_id, d in depth.items():
        while len(out) <= d:
            out.append([])
        out[d].append(node_id)
    return [sorted(level) for level in out]


def _depths(order: list[str], roots: set[str], parents: dict[str, list[str]]) -> dict[str, int]:
    """Longest-path depth of each reachable node; a cycle is broken at its first node in file order."""
    members = set(order)
    own = {n: [p for p in dict.fromkeys(parents[n]) if p in members] for n in order}
    waiting = {n: len(ps) for n, ps in own.items()}
    children: dict[str, list[str]] = {}
    for n, ps in own.items():
        for p in ps:
            children.setdefault(p, []).append(n)
    depth: dict[str, int] = {}
    ready = [n for n in order if not waiting[n]]
    while len(depth) < len(order):
        if not ready:  # a cycle: place its first node with the parents already placed
            ready = [
                next(n for n in order if n not in depth and (n in roots or any(p in depth for p in own[n])))
            ]
        n = ready.pop()
        if n in depth:
            continue
        placed = [depth[p] + 1 for p in own[n] if p in depth]
        depth[n] = max([1 if n in roots else 0, *placed])
        for child in children.get(n, ()):
            waiting[child] -= 1
            if waiting[child] == 0 and child not in depth:
                ready.append(child)
    return depth
