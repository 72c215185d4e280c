"""YAML → validated, frozen model: host configs, flow-file documents, and `floe lint`."""

from floe.config.common import Common
from floe.config.errors import ConfigError, Problem
from floe.config.flowfile import merge_flow_file
from floe.config.lint import lint
from floe.config.load import (
    FlowDocument,
    HostConfig,
    load_config,
    load_flow_document,
    looks_like_flow_document,
    parse_any,
    parse_config,
    parse_flow_document,
)

__all__ = [
    "Common",
    "ConfigError",
    "FlowDocument",
    "HostConfig",
    "Problem",
    "lint",
    "load_config",
    "load_flow_document",
    "looks_like_flow_document",
    "merge_flow_file",
    "parse_any",
    "parse_config",
    "parse_flow_document",
]
