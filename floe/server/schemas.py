"""The JSON Schemas of the API's bodies and answers, named: the route table (routes.py) names them,
request bodies are checked against them and the OpenAPI document (openapi.py) carries them."""

from __future__ import annotations

from typing import Any

S = dict[str, Any]

RUN_STATUS = ["pending", "running", "waiting", "good", "bad", "cancelled"]
NODE_STATUS = ["", "running", "waiting", "finished", "cancelled"]


def ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props: dict[str, S], required: list[str] | None = None, *, extra: bool = True) -> S:
    """An object schema; every property is required unless `required` names them. Objects stay open
    to new keys (clients must ignore what they do not know)."""
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": extra,
    }


def arr(items: S) -> S:
    return {"type": "array", "items": items}


STR: S = {"type": "string"}
INT: S = {"type": "integer"}
NUM: S = {"type": "number"}
BOOL: S = {"type": "boolean"}
TIME: S = {"type": ["number", "null"], "description": "seconds since the epoch"}
ANY_OBJ: S = {"type": "object", "additionalProperties": True}

_RUN_SUMMARY = {
    "run_id": STR,
    "flow": STR,
    "ver": INT,
    "status": {"type": "string", "enum": RUN_STATUS},
    "exec_host": STR,
    "trigger": STR,
    "created": NUM,
    "started": TIME,
    "ended": TIME,
    "pending_reason": STR,
    "reason": STR,
    "by": {**STR, "description": "who or what triggered the run (its audit trail's trigger entry)"},
    "branch": {**STR, "description": "the run's `branch` or `ref` value, or empty"},
    "commit": {**STR, "description": "its `hash` or `commit` value or a git checkout's hash, or empty"},
}
_FLOW_SUMMARY = {
    "id": STR,
    "ver": INT,
    "name": STR,
    "host_tags": arr(STR),
    "resource_tags": arr(STR),
    "triggers": arr(ref("Trigger")),
}
_EDGE = obj({"from": STR, "to": STR, "tag": STR})

SCHEMAS: dict[str, S] = {
    "Error": obj({"error": STR, "field": STR}, ["error"]),
    "Health": obj({"host": STR, "tags": arr(STR), "ok": BOOL}),
    "Login": obj({"user": STR, "password": STR, "User": STR, "Password": STR}, []),  # floe spells User
    "Principal": obj({"user": STR, "role": STR}),
    "LoggedOut": obj({"ok": BOOL}),
    "Field": obj(
        {
            "id": STR,
            "prompt": STR,
            "type": {"type": "string", "enum": ["string", "int", "bool", "choice"]},
            "required": BOOL,
            "regex": {"type": ["string", "null"]},
            "options": arr(STR),
            "default": {"type": ["string", "integer", "boolean", "number", "null"]},
        }
    ),
    "Form": obj({"title": STR, "fields": arr(ref("Field"))}),
    "Trigger": obj(
        {
            "id": STR,
            "name": STR,
            "type": STR,
            "form": ref("Form"),
            "webhook": {
                "description": "webhook triggers: the path (under the API base) to give the git host",
                **obj({"path": STR, "secret": {**BOOL, "description": "whether a secret is configured"}}),
            },
            "status": {
                "type": ["object", "null"],
                "description": "flow detail only: what the trigger did (timers, pollers, webhooks)",
                "properties": {
                    "type": STR,
                    "last_fire": TIME,
                    "last_run": {"type": ["string", "null"]},
                    "next_fire": TIME,
                    "last_error": {"type": ["string", "null"]},
                    "last_error_at": TIME,
                    "fires": INT,
                },
            },
        },
        ["id", "name", "type"],
    ),
    "FlowSummary": obj(_FLOW_SUMMARY),
    "FlowList": obj({"flows": arr(ref("FlowSummary"))}),
    "Task": obj(
        {
            "id": STR,
            "name": STR,
            "class": {"type": "string", "enum": ["task", "merge"]},
            "type": STR,
            "listen": STR,
            "wait": arr(STR),
            "fields": arr(ref("Field")),
        },
        ["id", "name", "class", "type"],
    ),
    "Edge": _EDGE,
    "FlowDetail": obj(
        {
            **_FLOW_SUMMARY,
            "reuse_space": BOOL,
            "flow_file": STR,
            "tasks": arr(ref("Task")),
            "levels": arr(arr(STR)),
            "edges": arr(ref("Edge")),
            "warnings": arr(STR),
        }
    ),
    "RunSummary": obj(
        {
            **_RUN_SUMMARY,
            "status": {
                "type": "string",
                "enum": [*RUN_STATUS, "unreadable"],
                "description": "unreadable: the run's stored record cannot be read (see error)",
            },
            "error": {**STR, "description": "why the run's stored record cannot be read"},
        },
        list(_RUN_SUMMARY),
    ),
    "RunList": obj(
        {
            "pending": arr(ref("RunSummary")),
            "active": arr(ref("RunSummary")),
            "archive": arr(ref("RunSummary")),
            "next_before": {"type": ["number", "null"], "description": "pass as `before` for the next page"},
            "partial": {**arr(STR), "description": "hosts that did not answer: the lists may miss runs"},
        },
        ["pending", "active", "archive", "next_before"],
    ),
    "RunNode": obj(
        {
            "id": STR,
            "name": STR,
            "class": STR,
            "type": STR,
            "status": {"type": "string", "enum": NODE_STATUS},
            "result": {"type": "string", "enum": ["", "good", "bad", "error"]},
            "exit_status": {"type": ["integer", "null"]},
            "started": TIME,
            "stopped": TIME,
            "attempts": INT,
            "tries": {**arr(ANY_OBJ), "description": "each earlier attempt of a retried task"},
            "reason": STR,
            "outputs": {**ANY_OBJ, "description": "what the task published ($FLOE_OUTPUT, http answers)"},
            "artifacts": {**arr(ref("Artifact")), "description": "files kept with the run"},
            "waits": arr(STR),
            "values": ANY_OBJ,
            "fields": arr(ref("Field")),
            "title": {"type": "string", "description": "a data task's form title"},
            "resolvers": {"type": "string", "description": "who may answer a data task (empty: anyone)"},
        },
        [
            "id",
            "name",
            "class",
            "type",
            "status",
            "result",
            "exit_status",
            "started",
            "stopped",
            "attempts",
            "reason",
        ],
    ),
    "RunDetail": obj(
        {
            **_RUN_SUMMARY,
            "name": STR,
            "values": ANY_OBJ,
            "rerun_of": {"type": "string", "description": "the run this one re-runs, or empty"},
            "from_node": {"type": "string", "description": "the node a partial re-run started from"},
            "workspace_from": {
                "type": "string",
                "description": "the run whose workspace a partial re-run copied",
            },
            "audit": {**arr(ref("AuditEntry")), "description": "who triggered, answered, cancelled it"},
            "nodes": arr(ref("RunNode")),
            "levels": arr(arr(STR)),
            "edges": arr(ref("Edge")),
            "posted_document": {"type": "string", "description": "a posted run's flow document (else empty)"},
            "partial": {
                **arr(STR),
                "description": "hosts that could not be asked: the detail is what this host last knew",
            },
        }
    ),
    "Cancelling": obj({"run_id": STR, "cancelling": BOOL}),
    "PushData": obj(
        {
            "Ref": obj({"ID": {**STR, "minLength": 1, "description": "the flow id"}, "Ver": INT}, ["ID"]),
            "Run": {
                "type": ["string", "null"],
                "description": "answer a data task of this run instead of triggering",
            },
            "Form": {
                **obj(
                    {
                        "ID": {
                            **STR,
                            "description": "the trigger (default: the flow's data trigger) or task",
                        },
                        "Values": {"type": ["object", "null"], "additionalProperties": True},
                    },
                    [],
                ),
                "type": ["object", "null"],
            },
        },
        ["Ref"],
    ),
    "Triggered": obj({"run_id": STR}),
    "PostFlow": obj(
        {
            "flow": {"type": "string", "description": "a flow document's YAML text (id, tasks)"},
            "values": ANY_OBJ,
        },
        ["flow"],
    ),
    "PostedRun": obj({"run_id": STR, "flow": STR}),
    "Artifact": obj({"path": STR, "size": INT, "sha256": STR}),
    "Answered": obj({"run_id": STR, "ok": BOOL}),
    "Host": obj(
        {
            "id": STR,
            "address": STR,
            "tags": arr(STR),
            "online": BOOL,
            "active_runs": INT,
            "error": STR,
            "last_seen": {"type": ["number", "null"]},
            "lock_host": BOOL,
        },
        ["id", "address", "tags", "online", "active_runs"],
    ),
    "AuditEntry": obj(
        {
            "at": NUM,
            "by": STR,
            "action": STR,
            "flow": STR,
            "run_id": STR,
            "detail": STR,
            "host": STR,
            "seq": INT,
        }
    ),
    "Audit": obj({"entries": arr(ref("AuditEntry")), "partial": arr(STR)}, ["entries"]),
    "Reloaded": obj({"flows": arr(STR), "warnings": arr(STR)}),
    "ReloadFailed": obj({"error": STR, "problems": arr(STR)}, ["error"]),
    "WebhookAnswer": obj({"started": BOOL, "run_id": STR, "reason": STR, "error": STR, "policy": STR}, []),
    "Rerun": obj({"run_id": STR, "rerun_of": STR, "from": STR}),
    "RunNowRequest": obj(
        {"ref": {"type": ["string", "null"], "description": "poll-git: the branch, tag or full ref to run"}},
        [],
    ),
    "RanNow": obj({"run_id": STR, "trigger": STR}),
    "StopRequest": obj(
        {
            "flow": {"type": ["string", "null"], "description": "a flow id, or * (default) for all"},
            "reason": {"type": ["string", "null"]},
            "cancel": {"type": ["boolean", "null"], "description": "also cancel the active runs it covers"},
        },
        [],
    ),
    "Stopped": obj(
        {
            "stopped": {"type": "object", "additionalProperties": STR, "description": "scope -> reason"},
            "cancelled": arr(STR),
            "hosts": arr(STR),
            "unreachable": arr(STR),
        },
        ["stopped"],
    ),
    "Swept": obj(
        {
            "runs": {"type": "integer", "description": "archived runs deleted, with their events and logs"},
            "workspaces": {"type": "integer", "description": "workspace directories deleted"},
            "failed": {"type": "integer", "description": "deletions that failed (logged, tried again later)"},
        },
        ["runs", "workspaces", "failed"],
    ),
    "HostList": obj({"hosts": arr(ref("Host"))}),
    "Offer": {**ANY_OBJ, "description": "a pend handed over, as floe/model/codec.py writes a run"},
    "Offered": obj({"run_id": STR, "exec_host": STR}),
    "Hello": obj({"id": STR, "tags": arr(STR), "active": INT, "running": INT, "max_runs": INT}),
    "Wake": obj({"id": STR, "active": INT, "running": INT, "max_runs": INT}, []),
    "Ended": obj(
        {"status": {"type": "string", "enum": ["good", "bad", "cancelled"]}, "ended": NUM},
        ["status", "ended"],
    ),
    "Active": obj({"runs": arr(obj({"run_id": STR, "flow": STR}))}),
    "LockRequest": obj({"run_id": STR, "host": STR, "tags": arr(STR)}),
    "Ok": obj({"ok": BOOL}),
    "Event": obj(
        {
            "run_id": STR,
            "flow": STR,
            "source_node": STR,
            "tag": STR,
            "good": BOOL,
            "opts": ANY_OBJ,
            "seq": {"type": "integer", "description": "strictly increasing per run"},
            "at": NUM,
        }
    ),
}
