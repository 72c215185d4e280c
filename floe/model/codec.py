"""Runs and flow snapshots to and from JSON documents, for the store and the wire."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from floe.model.flow import Flow, Foreach, FormField, Node, NodeClass, Policy
from floe.model.retention import Retention
from floe.model.run import NodeRun, NodeStatus, Run, RunStatus


def field_doc(f: FormField) -> dict[str, Any]:
    return {
        "id": f.id,
        "prompt": f.prompt,
        "type": f.type,
        "required": f.required,
        "regex": f.regex,
        "options": list(f.options),
        "default": f.default,
    }


def node_doc(n: Node) -> dict[str, Any]:
    return {
        "id": n.id,
        "name": n.name,
        "class": n.cls.value,
        "type": n.type,
        "listen": n.listen,
        "wait": list(n.wait),
        "good": list(n.good),
        "ignore_fail": n.ignore_fail,
        "use_status": n.use_status,
        "timeout": n.timeout,
        "retries": n.retries,
        "backoff": n.backoff,
        "opts": dict(n.opts),
        "fields": [field_doc(f) for f in n.fields],
        "line": n.line,
        "when": n.when,
        "foreach": _foreach_doc(n.foreach),
        "artifacts": list(n.artifacts),
    }


def _foreach_doc(f: Foreach | None) -> dict[str, Any] | None:
    if f is None:
        return None
    items = f.items if isinstance(f.items, str) else list(f.items)
    return {"items": items, "concurrency": f.concurrency, "rate": f.rate, "result": f.result}


def _foreach(d: Mapping[str, Any] | None) -> Foreach | None:
    if not d:
        return None
    items = d["items"]
    return Foreach(
        items=items if isinstance(items, str) else tuple(items),
        concurrency=int(d.get("concurrency") or 1),
        rate=d.get("rate"),
        result=d.get("result") or "all",
    )


def flow_doc(f: Flow) -> dict[str, Any]:
    return {
        "id": f.id,
        "ver": f.ver,
        "name": f.name,
        "reuse_space": f.reuse_space,
        "host_tags": list(f.host_tags),
        "resource_tags": list(f.resource_tags),
        "env": list(f.env),
        "flow_file": f.flow_file,
        "triggers": [node_doc(n) for n in f.triggers],
        "tasks": [node_doc(n) for n in f.tasks],
        "source": f.source,
        "line": f.line,
        "policies": [policy_doc(p) for p in f.policies],
        "retention": retention_doc(f.retention),
    }


def flow_content(f: Flow) -> dict[str, Any]:
    """A flow's document without where it was read from (file and lines), so that the copies two
    hosts loaded of one flow compare equal."""
    doc = {k: v for k, v in flow_doc(f).items() if k not in ("source", "line")}
    for key in ("triggers", "tasks"):
        doc[key] = [{k: v for k, v in n.items() if k != "line"} for n in doc[key]]
    return doc


def policy_doc(p: Policy) -> dict[str, Any]:
    return {
        "name": p.name,
        "max_concurrent": p.max_concurrent,
        "rate": p.rate,
        "burst": p.burst,
        "trigger": p.trigger,
        "allow": {k: list(v) for k, v in p.allow.items()},
    }


def retention_doc(r: Retention) -> dict[str, Any]:
    return {
        "keep_runs": r.keep_runs,
        "keep_days": r.keep_days,
        "keep_failed_days": r.keep_failed_days,
        "workspace_runs": r.workspace_runs,
    }


def _retention(d: Mapping[str, Any]) -> Retention:
    return Retention(
        keep_runs=d.get("keep_runs"),
        keep_days=d.get("keep_days"),
        keep_failed_days=d.get("keep_failed_days"),
        workspace_runs=d.get("workspace_runs"),
    )


def _policy(d: Mapping[str, Any]) -> Policy:
    return Policy(
        name=d["name"],
        max_concurrent=d.get("max_concurrent"),
        rate=d.get("rate"),
        burst=int(d.get("burst") or 1),
        trigger=d.get("trigger", ""),
        allow={k: tuple(v) for k, v in (d.get("allow") or {}).items()},
    )


def _field(d: Mapping[str, Any]) -> FormField:
    return FormField(
        id=d["id"],
        prompt=d.get("prompt", ""),
        type=d.get("type", "string"),
        required=bool(d.get("required", False)),
        regex=d.get("regex"),
        options=tuple(d.get("options") or ()),
        default=d.get("default"),
    )


def _node(d: Mapping[str, Any]) -> Node:
    return Node(
        id=d["id"],
        name=d.get("name", ""),
        cls=NodeClass(d["class"]),
        type=d.get("type", ""),
        listen=d.get("listen", ""),
        wait=tuple(d.get("wait") or ()),
        good=tuple(d.get("good") or (0,)),
        ignore_fail=bool(d.get("ignore_fail")),
        use_status=bool(d.get("use_status")),
        timeout=d.get("timeout"),
        retries=int(d.get("retries") or 0),
        backoff=float(d.get("backoff") or 0),
        opts=dict(d.get("opts") or {}),
        fields=tuple(_field(x) for x in d.get("fields") or ()),
        line=int(d.get("line") or 0),
        when=d.get("when") or "",
        foreach=_foreach(d.get("foreach")),
        artifacts=tuple(d.get("artifacts") or ()),
    )


def flow_from_doc(d: Mapping[str, Any]) -> Flow:
    return Flow(
        id=d["id"],
        ver=int(d.get("ver") or 0),
        name=d.get("name", ""),
        reuse_space=bool(d.get("reuse_space")),
        host_tags=tuple(d.get("host_tags") or ()),
        resource_tags=tuple(d.get("resource_tags") or ()),
        env=tuple(d.get("env") or ()),
        flow_file=d.get("flow_file", ""),
        triggers=tuple(_node(n) for n in d.get("triggers") or ()),
        tasks=tuple(_node(n) for n in d.get("tasks") or ()),
        source=d.get("source", ""),
        policies=tuple(_policy(p) for p in d.get("policies") or ()),
        retention=_retention(d.get("retention") or {}),
        line=int(d.get("line") or 0),
    )


def node_run_doc(n: NodeRun) -> dict[str, Any]:
    return {
        "id": n.id,
        "status": n.status.value,
        "result": n.result,
        "exit_status": n.exit_status,
        "started": n.started,
        "stopped": n.stopped,
        "attempts": n.attempts,
        "inputs": dict(n.inputs),
        "values": dict(n.values),
        "waits": list(n.waits),
        "reason": n.reason,
        "tries": [dict(t) for t in n.tries],
        "outputs": dict(n.outputs),
        "artifacts": [dict(a) for a in n.artifacts],
    }


def run_doc(r: Run) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "flow": r.flow.id,
        "ver": r.flow.ver,
        "phase": r.phase,
        "created": r.created,
        "status": r.status.value,
        "exec_host": r.exec_host,
        "trigger": r.trigger,
        "values": dict(r.values),
        "started": r.started,
        "ended": r.ended,
        "reason": r.reason,
        "seq": r.seq,
        "rerun_of": r.rerun_of,
        "from_node": r.from_node,
        "workspace_from": r.workspace_from,
        "audit": [dict(a) for a in r.audit],
        "nodes": [node_run_doc(n) for n in r.nodes.values()],
        "snapshot": snapshot_doc(r.flow),
    }


_SNAPSHOTS: dict[int, tuple[Flow, dict[str, Any]]] = {}  # id(flow) -> the flow and its document
_SNAPSHOTS_KEPT = 256


def snapshot_doc(f: Flow) -> dict[str, Any]:
    """`flow_doc(f)`, made once for each Flow object (flows are frozen): a busy run's document is
    made every 0.1 s and at its end, each with the whole flow. Shared by every document made of
    that flow, so it is never to be changed (the store and the wire only encode it)."""
    kept = _SNAPSHOTS.get(id(f))
    if kept is not None and kept[0] is f:
        return kept[1]
    doc = flow_doc(f)
    if len(_SNAPSHOTS) >= _SNAPSHOTS_KEPT:
        del _SNAPSHOTS[next(iter(_SNAPSHOTS))]  # the oldest made
    _SNAPSHOTS[id(f)] = (f, doc)
    return doc


def run_from_doc(d: Mapping[str, Any]) -> Run:
    nodes = {
        n["id"]: NodeRun(
            id=n["id"],
            status=NodeStatus(n.get("status", "")),
            result=n.get("result", ""),
            exit_status=n.get("exit_status"),
            started=n.get("started"),
            stopped=n.get("stopped"),
            attempts=int(n.get("attempts") or 0),
            inputs=dict(n.get("inputs") or {}),
            values=dict(n.get("values") or {}),
            waits=tuple(n.get("waits") or ()),
            reason=n.get("reason", ""),
            tries=tuple(dict(t) for t in n.get("tries") or ()),
            outputs=dict(n.get("outputs") or {}),
            artifacts=tuple(dict(a) for a in n.get("artifacts") or ()),
        )
        for n in d.get("nodes") or ()
    }
    return Run(
        run_id=d["run_id"],
        flow=flow_from_doc(d["snapshot"]),
        trigger=d.get("trigger", ""),
        values=dict(d.get("values") or {}),
        created=float(d["created"]),
        status=RunStatus(d["status"]),
        exec_host=d.get("exec_host", ""),
        started=d.get("started"),
        ended=d.get("ended"),
        nodes=nodes,
        reason=d.get("reason", ""),
        seq=int(d.get("seq") or 0),
        rerun_of=d.get("rerun_of", ""),
        audit=tuple(dict(a) for a in d.get("audit") or ()),
        from_node=d.get("from_node", ""),
        workspace_from=d.get("workspace_from", ""),
    )
