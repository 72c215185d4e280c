"""Parsing one trigger, task or merge node of a flow."""

from __future__ import annotations

from dataclasses import dataclass

from floe.config.forms import parse_fields
from floe.config.ids import derive
from floe.config.keys import (
    FOREACH_KEYS,
    MERGE_TYPES,
    NODE_KEYS,
    TASK_ONLY_KEYS,
    TASK_TYPES,
    TRIGGER_ALIASES,
    TRIGGER_TYPES,
)
from floe.config.opts import check_opts
from floe.config.reader import Section
from floe.config.yamlio import item_line
from floe.model.flow import Foreach, FormField, Node, NodeClass
from floe.model.template import STATIC_KEYS, check, check_expression


@dataclass(frozen=True, slots=True)
class TagUse:
    """A tag a node listens or waits for, where it is written."""

    node: str
    tag: str
    line: int
    key: str


def parse_node(sec: Section, in_triggers: bool) -> tuple[Node | None, list[TagUse]]:
    """The node of mapping `sec` (from the triggers list when `in_triggers`) and the tags it listens to."""
    what = "a trigger" if in_triggers else "a task"
    sec.check_keys(NODE_KEYS, what)
    node_id, name, problem = derive(sec.string("id"), sec.string("name"))
    if problem:
        sec.report.error(sec.line_of("id") if sec.has("id") else sec.line, sec.key_path("id"), problem)
    cls = _class(sec, in_triggers)
    node_type = _type(sec, cls)
    uses: list[TagUse] = []
    listen = ""
    wait: tuple[str, ...] = ()
    if cls is None:
        pass  # a bad class is reported; which rules apply is unknown
    elif cls is NodeClass.TRIGGER:
        for key in ("listen", "wait", *TASK_ONLY_KEYS):
            if sec.has(key):
                sec.warn(key, "has no effect on a trigger, ignored")
    elif cls is NodeClass.MERGE:
        if sec.has("listen"):
            sec.error("listen", "a merge has wait, not listen")
        wait, uses = _wait(sec, node_id)
        for key in TASK_ONLY_KEYS:
            if sec.has(key):
                sec.warn(key, "has no effect on a merge, ignored")
    else:
        if sec.has("wait"):
            sec.error("wait", "a task has listen, not wait (use class: merge to wait for several tags)")
        value = sec.string("listen")
        listen = (value or "").strip()
        if listen:
            uses.append(TagUse(node_id, listen, sec.line_of("listen"), sec.key_path("listen")))
        elif not sec.has("listen"):
            sec.report.error(sec.line, sec.key_path("listen"), "a task needs listen (the tag that starts it)")
        elif value is not None:
            sec.error("listen", "must not be empty")
    good = _good(sec)
    ignore_fail = bool(sec.boolean("ignore-fail"))
    use_status = bool(sec.boolean("use-status"))
    timeout = sec.number("timeout", durations=True, positive=True)
    retries = sec.integer("retries", minimum=0) or 0
    backoff = sec.number("backoff", durations=True) or 0.0
    opts, fields = _opts(sec, cls, node_type)
    when = _when(sec) if cls is NodeClass.TASK else ""
    foreach = _foreach(sec) if cls is NodeClass.TASK else None
    artifacts = _artifacts(sec) if cls is NodeClass.TASK else ()
    if problem or node_type is None or cls is None:
        return None, uses
    return Node(
        id=node_id,
        name=name,
        cls=cls,
        type=node_type,
        listen=listen,
        wait=wait,
        good=good,
        ignore_fail=ignore_fail,
        use_status=use_status,
        timeout=timeout,
        retries=retries,
        backoff=backoff,
        opts=opts,
        fields=fields,
        line=sec.line,
        when=when,
        foreach=foreach,
        artifacts=artifacts,
    ), uses


def _class(sec: Section, in_triggers: bool) -> NodeClass | None:
    allowed = ("trigger",) if in_triggers else ("task", "merge")
    value = sec.string("class")
    if value is None:
        return None if sec.has("class") else NodeClass.TRIGGER if in_triggers else NodeClass.TASK
    if value not in allowed:
        where = "under triggers" if in_triggers else "under tasks"
        sec.error("class", f"{value!r} is not allowed {where} (expected {' or '.join(allowed)})")
        return None
    return NodeClass(value)


def _type(sec: Section, cls: NodeClass | None) -> str | None:
    if cls is None:
        sec.string("type")
        return None
    types = {NodeClass.TRIGGER: TRIGGER_TYPES, NodeClass.TASK: TASK_TYPES, NodeClass.MERGE: MERGE_TYPES}[cls]
    if not sec.has("type"):
        if cls is NodeClass.MERGE:
            return "all"
        sec.report.error(
            sec.line, sec.key_path("type"), f"a {cls.value} needs a type ({', '.join(sorted(types))})"
        )
        return None
    value = sec.choice("type", types)
    return None if value is None else TRIGGER_ALIASES.get(value, value)


def _wait(sec: Section, node_id: str) -> tuple[tuple[str, ...], list[TagUse]]:
    tags = sec.strings("wait")
    if not tags:
        if tags is not None or not sec.has("wait"):
            sec.report.error(sec.line_of("wait"), sec.key_path("wait"), "a merge needs a non-empty wait list")
        return (), []
    raw = sec.raw.get("wait")
    uses = [
        TagUse(node_id, tag, item_line(raw, i) or sec.line_of("wait"), f"{sec.key_path('wait')}[{i}]")
        for i, tag in enumerate(tags)
    ]
    for i, tag in enumerate(tags):
        if tag in tags[:i]:
            sec.warn("wait", f"tag {tag!r} is listed twice")
    return tuple(dict.fromkeys(tags)), uses


def _templates(opts: Section) -> None:
    """Templates in opts that cannot parse are errors at the opt that holds them."""

    def walk(key: str, value: object) -> None:
        if isinstance(value, str):
            problem = check(value)
            if problem:
                opts.error(key, problem)
        elif isinstance(value, list):
            for v in value:
                walk(key, v)
        elif isinstance(value, dict):
            for v in value.values():
                walk(key, v)

    for key in opts.raw:
        if key not in STATIC_KEYS:
            walk(str(key), opts.value(key))


def _artifacts(sec: Section) -> tuple[str, ...]:
    patterns = sec.strings("artifacts", allow_single=True) or ()
    for pattern in patterns:
        parts = pattern.replace("\\", "/").split("/")
        if not pattern or pattern.startswith("/") or ".." in parts:
            sec.error("artifacts", f"{pattern!r} must be a relative path or glob inside the workspace")
            return ()
    return patterns


def _when(sec: Section) -> str:
    expr = sec.string("when")
    if expr is None:
        return ""
    problem = check_expression(expr) if expr.strip() else "must not be empty"
    if problem:
        sec.error("when", f"{expr!r}: {problem}")
        return ""
    return expr.strip()


def _foreach(sec: Section) -> Foreach | None:
    """`foreach: EXPR`, `foreach: [a, b]`, or `foreach: {items, concurrency, rate, result}`."""
    raw = sec.value("foreach")
    if raw is None:
        return None
    if isinstance(raw, str | list):
        raw = {"items": raw}
    spec = sec.section("foreach") if isinstance(sec.raw.get("foreach"), dict) else None
    if spec is not None:
        spec.check_keys(FOREACH_KEYS, "foreach")
    items = raw.get("items") if isinstance(raw, dict) else None
    if isinstance(items, str):
        problem = check_expression(items) if items.strip() else "must not be empty"
        if problem:
            sec.error("foreach", f"items {items!r}: {problem}")
            return None
    elif not isinstance(items, list):
        sec.error("foreach", "items must be an expression that gives a list, or a list")
        return None
    concurrency = spec.integer("concurrency", minimum=1) if spec is not None else None
    rate = spec.number("rate", positive=True) if spec is not None else None
    result = spec.choice("result", ("all", "any")) if spec is not None else None
    return Foreach(
        items=items.strip() if isinstance(items, str) else tuple(items),
        concurrency=concurrency or 1,
        rate=rate,
        result=result or "all",
    )


def _good(sec: Section) -> tuple[int, ...]:
    value = sec.value("good")
    if value is None:
        return (0,)
    if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        sec.error("good", "must be a list of integer exit statuses, e.g. [0, 2]")
        return (0,)
    return tuple(value) or (0,)


def _opts(
    sec: Section, cls: NodeClass | None, node_type: str | None
) -> tuple[dict[str, object], tuple[FormField, ...]]:
    opts = sec.section("opts")
    if opts is None:
        if cls is not None and node_type is not None:
            empty = Section({}, sec.key_path("opts"), sec.report)
            empty.line = sec.line
            check_opts(empty, cls, node_type)
        return {}, ()
    if cls is not None and node_type is not None:
        check_opts(opts, cls, node_type)
    if cls is NodeClass.TASK:
        _templates(opts)
    fields = parse_fields(opts) if node_type == "data" and cls is not NodeClass.MERGE else ()
    value = sec.value("opts")
    return (value if isinstance(value, dict) else {}), fields
