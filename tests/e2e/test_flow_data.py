"""Data through a flow on a real host: values and outputs reach tasks as data, `when`, `foreach`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.host import FloeHost

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: ship
    ver: 1
    triggers:
      - id: go
        type: data
        opts:
          form:
            fields:
              - {id: branch, type: string, default: main}
              - {id: note, type: string, default: ""}
    tasks:
      - id: build
        listen: trigger.good
        type: exec
        opts:
          shell: |
            printf '%s' "$FLOE_VALUE_NOTE" > env.txt
            printf '%s' {{ values.note }} > template.txt
            echo "version=1.2.3" >> "$FLOE_OUTPUT"
      - id: argv
        listen: task.build.good
        type: exec
        opts: {cmd: "cp env.txt {{ values.note }}.copy", args: ["{{ values.note }}"]}
        ignore-fail: true
      - id: package
        listen: task.build.good
        type: exec
        opts:
          env: ["VERSION={{ tasks.build.outputs.version }}"]
          shell: 'echo "$VERSION {{ tasks.build.outputs.version }}" > package.txt'
      - id: deploy
        listen: task.package.good
        when: "values.branch == 'main'"
        type: exec
        opts: {shell: "touch deployed"}
      - id: both
        class: merge
        type: all
        wait: [task.deploy.good, task.argv.good]
      - {id: done, listen: merge.both.good, type: end}
  - id: each
    ver: 1
    triggers:
      - id: go
        type: data
        opts: {form: {fields: [{id: domains, type: list}]}}
    tasks:
      - id: cert
        listen: trigger.good
        type: exec
        foreach: {items: values.domains, concurrency: 2}
        opts:
          shell: |
            echo "start $(date +%s.%N) {{ item }}" >> {root}/stamps
            sleep 1
            echo "end $(date +%s.%N) {{ item }}" >> {root}/stamps
            echo "issued={{ item }}" >> "$FLOE_OUTPUT"
"""

HOSTILE = "x; touch pwned1 $(touch pwned2) `touch pwned3`\n' \" && touch pwned4"


@pytest.fixture
def host(floe_host: Callable[..., FloeHost]) -> FloeHost:
    return floe_host(CONFIG)


def ws(host: FloeHost, flow: str, run_id: str) -> Path:
    return host.root / "ws" / "spaces" / flow / "ws" / run_id


def node(run: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in run["nodes"] if n["id"] == node_id)


def test_a_hostile_value_stays_data_in_env_templates_cmd_and_args(host: FloeHost) -> None:
    run = host.wait_run("ship", host.trigger("ship", values={"note": HOSTILE, "branch": "dev"}))
    space = ws(host, "ship", run["run_id"])
    assert (space / "env.txt").read_text() == HOSTILE
    assert (space / "template.txt").read_text() == HOSTILE
    assert not [p.name for p in space.rglob("pwned*")]
    assert node(run, "argv")["status"] == "finished"  # cp with one odd file name, no shell


def test_outputs_pass_along_and_a_false_when_skips(host: FloeHost) -> None:
    run = host.wait_run("ship", host.trigger("ship", values={"branch": "dev"}))
    assert run["status"] == "good", run
    space = ws(host, "ship", run["run_id"])
    assert (space / "package.txt").read_text() == "1.2.3 1.2.3\n"
    assert node(run, "build")["outputs"] == {"version": "1.2.3"}
    deploy = node(run, "deploy")
    assert deploy["result"] == "skipped" and not (space / "deployed").exists()
    assert node(run, "done")["status"] == "finished"  # the merge counted the skipped node


def test_a_true_when_runs_the_node(host: FloeHost) -> None:
    run = host.wait_run("ship", host.trigger("ship", values={"branch": "main"}))
    assert run["status"] == "good" and node(run, "deploy")["result"] == "good"
    assert (ws(host, "ship", run["run_id"]) / "deployed").exists()


def test_foreach_runs_every_item_never_more_than_two_at_once(host: FloeHost) -> None:
    domains = [f"d{i}.example" for i in range(5)]
    run = host.wait_run("each", host.trigger("each", values={"domains": "\n".join(domains)}))
    assert run["status"] == "good", run
    stamps = [line.split() for line in (host.root / "stamps").read_text().splitlines()]
    points = sorted((float(t), 1 if kind == "start" else -1) for kind, t, _ in stamps)
    running = peak = 0
    for _, delta in points:
        running += delta
        peak = max(peak, running)
    assert peak == 2 and len(stamps) == 10
    items = node(run, "cert")["outputs"]["items"]
    assert [i["outputs"] for i in items] == [{"issued": d} for d in domains]
    assert {i["result"] for i in items} == {"good"}
    log = host.node_log("each", run["run_id"], "cert")
    assert "[5/5] item 'd4.example' started" in log and "foreach: 5 of 5 items good" in log
