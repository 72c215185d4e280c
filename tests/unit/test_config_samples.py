"""The Go project's sample files (vendored in tests/data/floe-configs) load and lint cleanly."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from floe.config import FlowDocument, HostConfig, lint, load_config, parse_any
from floe.model.graph import levels

SAMPLES = Path(__file__).resolve().parents[1] / "data" / "floe-configs"


def sample(name: str) -> Path:
    return SAMPLES / name


@pytest.mark.parametrize("name", ["config.yml", "dev-config.yml", "floe.yml", "dev-floe.yml"])
def test_every_sample_lints_with_exit_0(name: str) -> None:
    out = io.StringIO()
    assert lint([str(sample(name))], out) == 0, out.getvalue()
    assert "error" not in out.getvalue().replace("0 error", "")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("config.yml", HostConfig),
        ("dev-config.yml", HostConfig),
        ("floe.yml", FlowDocument),
        ("dev-floe.yml", FlowDocument),
    ],
)
def test_samples_are_detected_as_their_kind(name: str, kind: type) -> None:
    path = sample(name)
    assert isinstance(parse_any(path.read_bytes(), str(path)), kind)


def test_config_yml_build_project_levels() -> None:
    cfg = load_config(sample("config.yml"))
    flow = cfg.flow("build-project")
    assert flow is not None and flow.name == "Build Project" and flow.ver == 1
    assert levels(flow) == [
        ["push", "start"],
        ["checkout"],
        ["build", "echo"],
        ["sign-off", "test"],
        ["signed"],
        ["final-task"],
        ["complete"],
    ]
    assert len(levels(flow)) - 1 == 6  # floe's flow_graph_test: 6 levels below the triggers
    start = flow.trigger("start")
    assert start is not None
    assert [(f.id, f.type, f.default) for f in start.fields] == [
        ("ref", "string", "master"),
        ("from-ref", "string", None),
    ]
    assert flow.trigger("push") is not None and flow.trigger("push").type == "webhook"  # type: ignore[union-attr]


def test_config_yml_keeps_floe_values() -> None:
    cfg = load_config(sample("config.yml"))
    assert cfg.common.base_url == "/build/api" and cfg.common.store_type == "local"
    assert cfg.common.hosts == ("http://127.0.0.1:8080",)
    danmux = cfg.flow("danmux")
    assert danmux is not None and danmux.flow_file == "floe.yml" and danmux.tasks == ()
    poll = danmux.trigger("commits")
    assert poll is not None and poll.opts["exclude-refs"] == "refs/heads/master"


def test_dev_config_does_not_create_its_workspace() -> None:
    cfg = load_config(sample("dev-config.yml"))
    assert cfg.common.workspace_root == "/home/ubuntu/floews" == cfg.common.store_root
    assert cfg.common.git_key == "/home/ubuntu/.ssh/id_floedemo_rsa"
    assert not Path("/home/ubuntu/floews").exists()


def test_floe_yml_fault_is_a_warning_with_its_line() -> None:
    out = io.StringIO()
    assert lint([str(sample("floe.yml"))], out) == 0
    assert (
        f"{sample('floe.yml')}:27: warning: tasks[3].listen: no node emits 'task.wait.good'" in out.getvalue()
    )
