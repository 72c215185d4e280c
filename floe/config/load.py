"""Loading host configs and flow-file documents into frozen, validated records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floe.config.common import Common, parse_common
from floe.config.errors import ConfigError, Problem, Report
from floe.config.flows import parse_flow
from floe.config.keys import FLOW_KEYS, HOST_KEYS
from floe.config.reader import Section
from floe.config.secrets import check_secret_refs
from floe.config.yamlio import read_yaml
from floe.model.flow import Flow


@dataclass(frozen=True, slots=True)
class HostConfig:
    """A loaded host config: shared settings, the flows, and the warnings found while loading."""

    common: Common
    flows: tuple[Flow, ...] = ()
    warnings: tuple[Problem, ...] = ()
    source: str = ""

    def flow(self, flow_id: str, ver: int | None = None) -> Flow | None:
        """The flow `flow_id` at `ver`, or its highest version when `ver` is None or 0."""
        matching = [f for f in self.flows if f.id == flow_id]
        if ver:
            return next((f for f in matching if f.ver == ver), None)
        return max(matching, key=lambda f: f.ver, default=None)

    def flow_warnings(self, flow: Flow) -> tuple[Problem, ...]:
        """The warnings found in `flow`, one of this config's flows (for the flow's API and log)."""
        index = next((i for i, f in enumerate(self.flows) if f is flow), None)
        if index is None:
            return ()
        prefix = f"flows[{index}]"
        return tuple(
            w for w in self.warnings if w.key == prefix or w.key.startswith((prefix + ".", prefix + "["))
        )


@dataclass(frozen=True, slots=True)
class FlowDocument:
    """A loaded flow-file document: one flow at top level, and its warnings."""

    flow: Flow
    warnings: tuple[Problem, ...] = ()
    source: str = ""


def looks_like_flow_document(data: object) -> bool:
    """True for a mapping with flow keys (`id`, `tasks`, ...) at top level and no `common`/`flows`."""
    if not isinstance(data, Mapping):
        return False
    keys = {k for k in data if isinstance(k, str)}
    return not keys & HOST_KEYS and bool(keys & FLOW_KEYS)


def load_config(path: str | Path) -> HostConfig:
    """Read and check the host config file at `path` (nothing is created on disk)."""
    return parse_config(_read(path), str(path))


def parse_config(text: str | bytes, source: str = "<config>") -> HostConfig:
    """Check host config `text`; every error found is raised together in one ConfigError."""
    report = Report(source)
    data = read_yaml(text, report)
    config = None if report.failed else _host(data, report)
    report.raise_if_failed()
    assert config is not None
    return config


def parse_flow_document(text: str | bytes, source: str = "<flow-file>") -> FlowDocument:
    """Check flow-file document `text` (a single flow at top level)."""
    report = Report(source)
    data = read_yaml(text, report)
    flow = None if report.failed else _document(data, report)
    report.raise_if_failed()
    assert flow is not None
    return FlowDocument(flow, report.warnings, source)


def load_flow_document(text: str | bytes, source: str = "<flow-file>") -> Flow:
    """The flow of flow-file document `text` (warnings dropped; see parse_flow_document)."""
    return parse_flow_document(text, source).flow


def parse_any(text: str | bytes, source: str) -> HostConfig | FlowDocument:
    """A host config or a flow-file document, whichever `text` is."""
    report = Report(source)
    data = read_yaml(text, report)
    result: HostConfig | FlowDocument | None = None
    if not report.failed:
        if looks_like_flow_document(data):
            flow = _document(data, report)
            result = None if flow is None else FlowDocument(flow, report.warnings, source)
        else:
            result = _host(data, report)
    report.raise_if_failed()
    assert result is not None
    return result


def read_source(path: str | Path) -> bytes:
    """The bytes of a config file, or ConfigError when it cannot be read."""
    return _read(path)


def _read(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([Problem(str(path), 0, "", f"cannot read: {reason}")]) from None


def _host(data: Any, report: Report) -> HostConfig | None:
    root = Section.of(data, "", report, 1)
    if root is None:
        return None
    if looks_like_flow_document(data):
        report.error(root.line, "", "this is a flow-file document (id/tasks at top level), not a host config")
        return None
    root.check_keys(HOST_KEYS, "a host config")
    common = parse_common(root.section("common"))
    flows = [f for _, sec in root.sections("flows") if (f := parse_flow(sec)) is not None]
    check_secret_refs(root, common.secrets)
    seen: dict[tuple[str, int], list[Flow]] = defaultdict(list)
    for flow in flows:
        seen[(flow.id, flow.ver)].append(flow)
    for (flow_id, ver), same in seen.items():
        if len(same) > 1:
            lines = ", ".join(str(f.line) for f in same)
            report.error(
                same[1].line, "flows", f"{len(same)} flows have id {flow_id} and ver {ver} (lines {lines})"
            )
    if not root.has("flows"):
        report.warn(root.line, "flows", "no flows")
    return HostConfig(common, tuple(flows), report.warnings, report.source)


def _document(data: Any, report: Report) -> Flow | None:
    root = Section.of(data, "", report, 1)
    if root is None:
        return None
    if not looks_like_flow_document(data):
        report.error(root.line, "", "not a flow-file document (expected id, tasks, ... at top level)")
        return None
    return parse_flow(root, document=True)
