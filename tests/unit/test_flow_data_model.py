"""Values, outputs, `when` and `foreach` through the pure run model, and what lint says of them."""

from __future__ import annotations

import io

from floe.config import lint, parse_config
from floe.model import run as rm
from floe.model.run import NodeStatus, RunStatus
from tests.unit.test_run_model import done, flow_of, start, started, tags

CHAIN = """
      - {id: build, listen: trigger.good, type: exec, opts: {shell: "make"}}
      - id: package
        listen: task.build.good
        type: exec
        opts:
          shell: "tar czf app-{{ tasks.build.outputs.version }}.tgz {{ values.branch }}"
          env: ["VERSION={{ tasks.build.outputs.version }}"]
          args: ["{{ values.branch }}"]
"""


def test_outputs_and_values_fill_the_next_tasks_opts() -> None:
    s = start(flow_of(CHAIN), {"branch": "feature/x; rm -rf /"})
    s = rm.node_done(s.run, "build", 0, {"version": "1.2.3"}, "", 3.0)
    (pkg,) = s.starts
    assert pkg.opts["shell"] == "tar czf app-1.2.3.tgz 'feature/x; rm -rf /'"
    assert pkg.opts["env"] == ["VERSION=1.2.3"] and pkg.opts["args"] == ["feature/x; rm -rf /"]
    assert s.run.node("build").outputs == {"version": "1.2.3"}
    assert pkg.values["version"] == "1.2.3" and pkg.values["branch"] == "feature/x; rm -rf /"


def test_a_template_that_fails_at_run_time_fails_its_node_with_the_reason() -> None:
    s = start(flow_of(CHAIN), {})  # no branch value
    s = rm.node_done(s.run, "build", 0, {"version": "1"}, "", 3.0)
    assert started(s) == [] and s.run.status is RunStatus.BAD
    pkg = s.run.node("package")
    assert pkg.result == "error" and "opt shell" in pkg.reason and "branch" in pkg.reason


WHEN = """
      - {id: test, listen: trigger.good, type: exec, opts: {cmd: "true"}}
      - {id: deploy, listen: task.test.good, type: exec, when: "values.branch == 'main'", opts: {cmd: "true"}}
      - {id: announce, listen: task.deploy.good, type: exec, opts: {cmd: "true"}}
      - {id: docs, listen: task.test.good, type: exec, opts: {cmd: "true"}}
      - {id: both, class: merge, type: all, wait: [task.deploy.good, task.docs.good]}
      - {id: report, listen: merge.both.good, type: exec, opts: {cmd: "true"}}
"""


def test_when_false_skips_the_node_its_listeners_and_merges_count_it() -> None:
    s = start(flow_of(WHEN), {"branch": "dev"})
    s = done(s.run, "test")
    assert started(s) == ["docs"] and "task.deploy.skipped" in tags(s)
    deploy = s.run.node("deploy")
    assert deploy.status is NodeStatus.FINISHED and deploy.result == "skipped"
    assert "values.branch == 'main'" in deploy.reason
    s = done(s.run, "docs")
    assert started(s) == ["report"]  # the merge counted the skipped deploy
    s = done(s.run, "report")
    assert s.run.status is RunStatus.GOOD and s.run.node("announce").status is NodeStatus.IDLE


def test_when_true_runs_the_node() -> None:
    s = start(flow_of(WHEN), {"branch": "main"})
    s = done(s.run, "test")
    assert started(s) == ["deploy", "docs"]


def test_a_when_that_cannot_evaluate_is_an_error_of_its_node() -> None:
    s = start(flow_of(WHEN), {})
    s = done(s.run, "test")
    assert s.run.node("deploy").result == "error" and "when" in s.run.node("deploy").reason
    assert s.run.status is RunStatus.BAD


EACH = """
      - id: cert
        listen: trigger.good
        type: exec
        foreach: {items: values.domains, concurrency: 2}
        opts: {shell: "issue {{ item }} {{ index }}"}
"""


def test_foreach_renders_each_item() -> None:
    s = start(flow_of(EACH), {"domains": ["a.example", "b.example; reboot"]})
    (cert,) = s.starts
    assert cert.items == ("a.example", "b.example; reboot")
    assert [e["shell"] for e in cert.each] == ["issue a.example 0", "issue 'b.example; reboot' 1"]


def test_foreach_over_a_non_list_fails_the_node() -> None:
    s = start(flow_of(EACH), {"domains": "a.example"})
    assert s.run.status is RunStatus.BAD and "not a list" in s.run.node("cert").reason


def test_a_run_keeps_outputs_through_its_document() -> None:
    from floe.model.codec import run_doc, run_from_doc

    s = start(flow_of(CHAIN), {"branch": "main"})
    s = rm.node_done(s.run, "build", 0, {"version": "9"}, "", 3.0)
    again = run_from_doc(run_doc(s.run))
    assert again.node("build").outputs == {"version": "9"}
    assert again.flow.node("package") == s.run.flow.node("package")


def lint_text(text: str, tmp_path: object) -> str:
    from pathlib import Path

    path = Path(str(tmp_path)) / "f.yml"
    path.write_text(text)
    out = io.StringIO()
    lint([str(path)], out)
    return out.getvalue()


BAD = """
flows:
  - id: f
    triggers: [{id: go, type: data}]
    tasks:
      - {id: call, listen: trigger.good, type: http, opts: {url: "http://127.0.0.1/"}}
      - id: use
        listen: task.call.good
        type: exec
        when: "tasks.call.outputs.json.ok and"
        opts: {shell: "echo {{ tasks.call.outputs.stauts }} {{ tasks.nope.outputs.x }} {{ values.x "}
      - {id: loop, listen: task.call.good, type: exec, foreach: {items: [a], speed: 2}, opts: {cmd: "true"}}
"""


def test_lint_names_what_cannot_work(tmp_path: object) -> None:
    out = lint_text(BAD, tmp_path)
    assert "f.yml:11: flows[0].tasks[1].opts.shell: line 1 of the template" in out  # the unclosed template
    assert "f.yml:10: flows[0].tasks[1].when:" in out
    assert "f.yml:12: flows[0].tasks[2].foreach.speed: unknown key" in out
    good = BAD.replace(' {{ values.x "}', '"}').replace(' and"', '"')
    out = lint_text(good, tmp_path)
    assert "tasks.call.outputs.stauts: a http task has no such output (body, headers, json, status)" in out
    assert "tasks.nope.outputs.x: no task 'nope'" in out


def test_the_skipped_tag_can_be_listened_to() -> None:
    cfg = parse_config(
        """
flows:
  - id: f
    triggers: [{id: go, type: data}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, when: "false", opts: {cmd: "true"}}
      - {id: b, listen: task.a.skipped, type: exec, opts: {cmd: "true"}}
""",
        "t.yml",
    )
    assert cfg.flow_warnings(cfg.flows[0]) == ()


def test_lint_refuses_foreach_over_a_field_that_is_not_a_list(tmp_path: object) -> None:
    text = """
flows:
  - id: f
    triggers:
      - {id: go, type: data, opts: {form: {fields: [{id: domain, type: string}, {id: many, type: list}]}}}
    tasks:
      - {id: a, listen: trigger.good, type: exec, foreach: values.domain, opts: {cmd: "true"}}
      - {id: b, listen: trigger.good, type: exec, foreach: values.many, opts: {cmd: "true"}}
"""
    out = lint_text(text, tmp_path)
    assert "flows[0].tasks[0].foreach: values.domain is a string field of go, not a list" in out
    assert "tasks[1]" not in out


def test_a_node_without_templates_starts_with_its_opts_as_written() -> None:
    """Its context is built only when read (a template or `when`); the opts are the same."""
    s = start(
        flow_of(CHAIN + '      - {id: plain, listen: task.package.good, type: exec, opts: {cmd: "ls -l"}}\n'),
        {"branch": "main"},
    )
    s = rm.node_done(s.run, "build", 0, {"version": "1.2.3"}, "", 3.0)
    s = rm.node_done(s.run, "package", 0, {}, "", 4.0)
    (plain,) = s.starts
    assert plain.node_id == "plain" and plain.opts["cmd"] == "ls -l"
