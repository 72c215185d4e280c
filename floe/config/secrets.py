"""The `common.secrets` section (where each secret comes from) and the `${secret:NAME}` references to it."""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from floe.config.reader import Section, kind, plain_or_str
from floe.config.yamlio import item_line, key_line
from floe.model.opts import SECRET_NAME, SECRET_REF

SOURCES = ("env", "file")
SECRET_KEYS = (*SOURCES, "flows")


@dataclass(frozen=True, slots=True)
class SecretRef:
    """Where the value of secret `name` comes from: an environment variable of the host, or a file;
    and the flows it is given to (`flows`; empty: every flow)."""

    name: str
    kind: Literal["env", "file"]
    source: str  # the variable's name, or the file's path (`~/` expanded)
    flows: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"environment variable {self.source}" if self.kind == "env" else f"file {self.source}"

    def given_to(self, flow_id: str) -> bool:
        return not self.flows or flow_id in self.flows


def in_scope(secrets: Mapping[str, str], refs: Mapping[str, SecretRef], flow_id: str) -> dict[str, str]:
    """The secrets of `secrets` (values by name) that runs of flow `flow_id` may have."""
    return {n: v for n, v in secrets.items() if n not in refs or refs[n].given_to(flow_id)}


def parse_secrets(common: Section) -> Mapping[str, SecretRef]:
    """`common.secrets`: `NAME: {env: VAR}` or `NAME: {file: PATH}`, either with an optional
    `flows: [id, ...]` (only runs of those flows get it); faults go to the report."""
    sec = common.section("secrets")
    if sec is None:
        return MappingProxyType({})
    refs: dict[str, SecretRef] = {}
    for raw_name, raw in sec.raw.items():
        name = raw_name if isinstance(raw_name, str) else str(plain_or_str(raw_name))
        line = key_line(sec.raw, raw_name) or sec.line
        if not isinstance(raw_name, str) or not SECRET_NAME.fullmatch(name):
            sec.report.error(
                line,
                sec.key_path(name),
                "a secret name must match [A-Za-z_][A-Za-z0-9_]*",
            )
            continue
        ref = _ref(sec, name, raw, line)
        if ref is not None:
            refs[name] = ref
    return MappingProxyType(refs)


def _ref(parent: Section, name: str, raw: Any, line: int) -> SecretRef | None:
    where = parent.key_path(name)
    shape = "must be {env: VARIABLE} or {file: PATH}"
    if not isinstance(raw, Mapping):
        parent.report.error(line, where, f"{shape}, not {kind(raw)}")
        return None
    sec = Section(raw, where, parent.report)
    sec.line = sec.line or line
    sec.check_keys(SECRET_KEYS, "a secret")
    flows = sec.strings("flows") or ()
    given = [k for k in SOURCES if k in raw]
    if len(given) != 1:
        sec.report.error(line, where, f"{shape} (exactly one of env, file)")
        return None
    source = sec.string(given[0])
    if source is None:
        if raw.get(given[0]) is None:
            sec.error(given[0], "must not be empty")
        return None
    if given[0] == "env":
        if not source or "=" in source or "\0" in source:
            sec.error("env", f"{source!r} is not an environment variable name")
            return None
        return SecretRef(name, "env", source, flows)
    if not source or "\0" in source:
        sec.error("file", f"{source!r} is not a file path")
        return None
    if source.startswith("~/"):
        source = os.path.expanduser("~") + source[1:]
    return SecretRef(name, "file", source, flows)


def check_secret_refs(root: Section, refs: Mapping[str, SecretRef]) -> None:
    """Every `${secret:NAME}` in an `env` entry of a flow, task or trigger must name a defined secret
    given to that flow (an error with its line); a reference in `cmd`, `shell` or `args` is a warning
    (not expanded there). Only well-formed values are looked at: shape faults are reported by the
    flow parser."""
    flows = root.raw.get("flows")
    if not isinstance(flows, list):
        return
    for i, flow in enumerate(flows):
        if not isinstance(flow, Mapping):
            continue
        path = f"flows[{i}]"
        flow_id = flow.get("id")
        names = {n for n, r in refs.items() if not isinstance(flow_id, str) or r.given_to(flow_id)}
        scoped = {n: r for n, r in refs.items() if n not in names}
        _env(root, flow, path, names, scoped, flow_id)
        for group in ("triggers", "tasks"):
            nodes = flow.get(group)
            if not isinstance(nodes, list):
                continue
            for j, node in enumerate(nodes):
                opts = node.get("opts") if isinstance(node, Mapping) else None
                if isinstance(opts, Mapping):
                    node_path = f"{path}.{group}[{j}].opts"
                    _env(root, opts, node_path, names, scoped, flow_id)
                    _elsewhere(root, opts, node_path)


def _env(
    root: Section,
    parent: Mapping[Any, Any],
    path: str,
    names: Collection[str],
    scoped: Mapping[str, SecretRef],
    flow_id: object,
) -> None:
    """`names`: the secrets this flow may use; `scoped`: those defined for other flows only."""
    entries = parent.get("env")
    if not isinstance(entries, list):
        return
    for k, entry in enumerate(entries):
        if not isinstance(entry, str):
            continue
        for m in SECRET_REF.finditer(entry):
            name = m.group(1)
            if name in names:
                continue
            if name in scoped:
                given = ", ".join(scoped[name].flows)
                message = f"secret {name!r} is not given to flow {flow_id} (its flows: {given})"
            else:
                defined = ", ".join(sorted({*names, *scoped}))
                hint = f"common.secrets defines {defined}" if defined else "common.secrets defines none"
                message = f"unknown secret {name!r} ({hint})"
            root.report.error(item_line(entries, k) or key_line(parent, "env"), f"{path}.env[{k}]", message)


def _elsewhere(root: Section, opts: Mapping[Any, Any], path: str) -> None:
    for key in ("cmd", "shell", "args"):
        value = opts.get(key)
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and SECRET_REF.search(t) for t in texts):
            root.report.warn(
                key_line(opts, key),
                f"{path}.{key}",
                "${secret:NAME} is expanded only in env entries: set it in env (TOKEN=${secret:NAME}) "
                "and use $TOKEN here",
            )
