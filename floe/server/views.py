"""JSON shapes of flows and runs as the API answers them (snake_case, no config internals)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from floe.hub.records import Unreadable
from floe.model.codec import field_doc
from floe.model.flow import Flow, Node
from floe.model.gate import resolvers
from floe.model.graph import edges, levels
from floe.model.run import Run, RunStatus
from floe.triggers.webhook import PATH as WEBHOOK_PATH

BRANCH_KEYS = ("branch", "ref")
COMMIT_KEYS = ("hash", "commit")


def trigger_view(flow_id: str, t: Node) -> dict[str, Any]:
    form = t.opts.get("form") if isinstance(t.opts.get("form"), dict) else None
    out: dict[str, Any] = {"id": t.id, "name": t.name, "type": t.type}
    if t.type == "webhook":
        secret = t.opts.get("secret")
        out["webhook"] = {
            "path": f"{WEBHOOK_PATH}/{flow_id}/{t.id}",
            "secret": isinstance(secret, str) and bool(secret),
        }
    if t.type == "data":
        out["form"] = {
            "title": (form or {}).get("title", t.name),
            "fields": [field_doc(f) for f in t.fields],
        }
    return out


def node_view(n: Node) -> dict[str, Any]:
    out: dict[str, Any] = {"id": n.id, "name": n.name, "class": n.cls.value, "type": n.type}
    if n.listen:
        out["listen"] = n.listen
    if n.wait:
        out["wait"] = list(n.wait)
    if n.type == "data":
        out["fields"] = [field_doc(f) for f in n.fields]
    return out


def flow_summary(f: Flow) -> dict[str, Any]:
    return {
        "id": f.id,
        "ver": f.ver,
        "name": f.name,
        "host_tags": list(f.host_tags),
        "resource_tags": list(f.resource_tags),
        "triggers": [trigger_view(f.id, t) for t in f.triggers],
    }


def flow_detail(f: Flow, warnings: list[str]) -> dict[str, Any]:
    return {
        **flow_summary(f),
        "reuse_space": f.reuse_space,
        "flow_file": f.flow_file,
        "tasks": [node_view(n) for n in f.tasks],
        "levels": levels(f),
        "edges": [{"from": a, "to": b, "tag": t} for a, b, t in edges(f)],
        "warnings": warnings,
    }


def run_summary(r: Run) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "flow": r.flow.id,
        "ver": r.flow.ver,
        "status": r.status.value,
        "exec_host": r.exec_host,
        "trigger": r.trigger,
        "created": r.created,
        "started": r.started,
        "ended": r.ended,
        "pending_reason": r.reason if r.status is RunStatus.PENDING else "",
        "reason": "" if r.status is RunStatus.PENDING else r.reason,
        "by": _triggered_by(r),
        "branch": _first(r.values, BRANCH_KEYS),
        "commit": _first(r.values, COMMIT_KEYS) or _checked_out(r),
    }


def _triggered_by(r: Run) -> str:
    """The user of the run's `trigger` audit entry; "" when none is known (a webhook, a timer)."""
    by = next((str(a.get("by", "")) for a in r.audit if a.get("action") == "trigger"), "")
    return "" if by == "?" else by


def _first(values: Mapping[str, Any], keys: tuple[str, ...]) -> str:
    """The first of `keys` with a non-empty string value."""
    return next((v for k in keys if isinstance(v := values.get(k), str) and v), "")


def _checked_out(r: Run) -> str:
    """The commit a git checkout task of the run published, if any."""
    return next((v for n in r.nodes.values() if isinstance(v := n.outputs.get("checked-out-hash"), str)), "")


def _posted(r: Run) -> object:
    trig = r.flow.trigger(r.trigger)
    return trig.opts.get("document") if trig is not None else None


def unreadable_summary(u: Unreadable) -> dict[str, Any]:
    """A listed run whose stored record cannot be read: its id, flow and time, and why."""
    return {
        "run_id": u.run_id,
        "flow": u.flow,
        "ver": 0,
        "status": "unreadable",
        "exec_host": "",
        "trigger": "",
        "created": u.created,
        "started": None,
        "ended": None,
        "pending_reason": "",
        "reason": u.error,
        "by": "",
        "branch": "",
        "commit": "",
        "error": u.error,
    }


def run_detail(r: Run) -> dict[str, Any]:
    nodes = []
    for n in (*r.flow.tasks,):
        nr = r.node(n.id)
        nodes.append(
            {
                "id": n.id,
                "name": n.name,
                "class": n.cls.value,
                "type": n.type,
                "status": nr.status.value,
                "result": nr.result,
                "exit_status": nr.exit_status,
                "started": nr.started,
                "stopped": nr.stopped,
                "attempts": nr.attempts,
                "tries": [dict(t) for t in nr.tries],
                "reason": nr.reason,
                "outputs": dict(nr.outputs),
                "artifacts": [dict(a) for a in nr.artifacts],
                **({"waits": list(nr.waits)} if n.wait else {}),
                **(
                    {
                        "values": dict(nr.values),
                        "fields": [field_doc(f) for f in n.fields],
                        "title": gate_title(n),
                        "resolvers": resolvers(n),
                    }
                    if n.type == "data"
                    else {}
                ),
            }
        )
    return {
        **run_summary(r),
        "name": f"{r.flow.name} {r.run_id}",
        "values": dict(r.values),
        "rerun_of": r.rerun_of,
        "audit": [dict(a) for a in r.audit],
        "from_node": r.from_node,
        "workspace_from": r.workspace_from,
        "nodes": nodes,
        "levels": levels(r.flow),
        "edges": [{"from": a, "to": b, "tag": t} for a, b, t in edges(r.flow)],
        "posted_document": doc if isinstance(doc := _posted(r), str) else "",
        "partial": [],
    }


def gate_title(n: Node) -> str:
    """A data task's form title, or its name."""
    form = n.opts.get("form")
    title = form.get("title") if isinstance(form, dict) else None
    return title if isinstance(title, str) and title else n.name or n.id
