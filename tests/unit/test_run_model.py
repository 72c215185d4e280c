"""The run state machine, driven purely: floe's scenarios as transitions, no IO."""

from __future__ import annotations

from typing import Any

import pytest

from floe.config import parse_config
from floe.model import run as rm
from floe.model.codec import run_doc, run_from_doc
from floe.model.flow import Flow
from floe.model.form import FormError
from floe.model.run import NodeStatus, Run, RunStatus, Step


def flow_of(yaml_tasks: str, extra: str = "") -> Flow:
    text = f"""
flows:
  - id: f
    ver: 1
{extra}
    triggers: [{{id: go, type: data}}]
    tasks:
{yaml_tasks}
"""
    return parse_config(text, "t.yml").flows[0]


def start(flow: Flow, values: dict[str, Any] | None = None) -> Step:
    pend = rm.new_pend("h1-1", flow, "go", values or {}, 1.0).run
    return rm.activate(pend, "h1", 2.0)


def tags(step: Step) -> list[str]:
    return [e.tag for e in step.events]


def started(step: Step) -> list[str]:
    return [s.node_id for s in step.starts]


def done(run: Run, node: str, status: int = 0, error: str = "") -> Step:
    return rm.node_done(run, node, status, {}, error, 3.0)


DIAMOND = """
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
      - {id: b, listen: task.a.good, type: exec, opts: {cmd: "true"}}
      - {id: c, listen: task.a.good, type: exec, opts: {cmd: "true"}}
      - {id: join, class: merge, type: all, wait: [task.b.good, task.c.good]}
      - {id: done, listen: merge.join.good, type: end}
"""


def test_fan_out_merge_all_end() -> None:
    s = start(flow_of(DIAMOND))
    assert tags(s)[:2] == ["sys.state", "trigger.good"] and started(s) == ["a"]
    s = done(s.run, "a")
    assert started(s) == ["b", "c"] and s.run.status is RunStatus.RUNNING
    s = done(s.run, "b")
    assert s.run.node("join").waits == ("task.b.good",) and s.run.status is RunStatus.RUNNING
    s = done(s.run, "c")
    assert "merge.join.good" in tags(s) and tags(s)[-1] == "sys.end.all"
    assert s.run.status is RunStatus.GOOD and s.run.phase == "archive"
    seqs = [e.seq for e in s.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


def test_unrouted_bad_ends_run_bad_and_good_dangling_does_not_end_early() -> None:
    f = flow_of("""
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "false"}}
      - {id: slow, listen: trigger.good, type: exec, opts: {cmd: "sleep 1"}}
""")
    s = start(f)
    assert started(s) == ["a", "slow"]
    s = done(s.run, "a", 0)  # task.a.good has no listener: the run goes on while `slow` runs
    assert s.run.status is RunStatus.RUNNING
    s = done(s.run, "slow", 1)  # task.slow.bad has no listener: the run fails
    assert s.run.status is RunStatus.BAD and s.run.reason == "slow failed: exit status 1"


def test_nothing_left_running_ends_good() -> None:
    s = start(flow_of('      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}'))
    s = done(s.run, "a")
    assert s.run.status is RunStatus.GOOD


def test_use_status_and_good_list() -> None:
    f = flow_of("""
      - {id: st, listen: trigger.good, type: exec, use-status: true, good: [0, 2], opts: {shell: "exit 2"}}
      - {id: done, listen: task.st.2, type: end}
""")
    s = done(start(f).run, "st", 2)
    assert "task.st.2" in tags(s) and s.run.status is RunStatus.GOOD
    assert s.run.node("st").result == "good" and s.run.node("st").exit_status == 2


def test_ignore_fail_emits_good() -> None:
    f = flow_of("""
      - {id: fail, listen: trigger.good, type: exec, ignore-fail: true, opts: {shell: "exit 3"}}
      - {id: done, listen: task.fail.good, type: end}
""")
    s = done(start(f).run, "fail", 3)
    assert "task.fail.good" in tags(s) and s.run.status is RunStatus.GOOD


def test_error_tag_for_a_task_that_cannot_run() -> None:
    f = flow_of('      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "nope"}}')
    s = done(start(f).run, "a", 1, "program not found: nope")
    assert "task.a.error" in tags(s) and s.run.status is RunStatus.BAD
    assert s.run.node("a").result == "error" and s.run.node("a").reason == "program not found: nope"


SIGN_OFF = """
      - {id: build, listen: trigger.good, type: exec, opts: {cmd: "true"}}
      - id: sign-off
        listen: task.build.good
        type: data
        opts:
          form:
            title: Sign off
            fields: [{id: tests_passed, prompt: Passed?, type: bool}, {id: to_hash, prompt: Hash}]
      - {id: after, listen: task.sign-off.good, type: exec, opts: {cmd: "true"}}
      - {id: done, listen: task.after.good, type: end}
"""


def test_data_gate_waits_for_every_field() -> None:
    s = done(start(flow_of(SIGN_OFF)).run, "build")
    assert "sys.data.required" in tags(s) and s.run.status is RunStatus.WAITING
    s = rm.answer(s.run, "sign-off", {"tests_passed": "true"}, 4.0)
    assert tags(s) == ["sys.data.required"] and s.run.status is RunStatus.WAITING
    s = rm.answer(s.run, "sign-off", {"to_hash": "abc"}, 5.0)
    assert "task.sign-off.good" in tags(s) and started(s) == ["after"]
    assert dict(s.run.node("sign-off").values) == {"tests_passed": True, "to_hash": "abc"}
    assert s.run.status is RunStatus.RUNNING
    assert done(s.run, "after").run.status is RunStatus.GOOD


def test_data_gate_rejects_bad_values_and_answers_to_idle_nodes() -> None:
    run = start(flow_of(SIGN_OFF)).run
    with pytest.raises(LookupError):
        rm.answer(run, "sign-off", {"to_hash": "x"}, 4.0)  # not reached yet
    run = done(run, "build").run
    with pytest.raises(FormError) as e:
        rm.answer(run, "sign-off", {"tests_passed": "maybe"}, 4.0)
    assert e.value.field == "tests_passed"


def test_retries_restart_with_backoff_then_fail() -> None:
    f = flow_of(
        '      - {id: a, listen: trigger.good, type: exec, retries: 2, backoff: 1, opts: {cmd: "false"}}'
    )
    s = done(start(f).run, "a", 1)
    assert [(x.node_id, x.delay, x.attempt) for x in s.starts] == [("a", 1.0, 2)]
    s = done(s.run, "a", 1)
    assert [(x.delay, x.attempt) for x in s.starts] == [(2.0, 3)]
    s = done(s.run, "a", 1)
    assert not s.starts and s.run.status is RunStatus.BAD and s.run.node("a").attempts == 3


def test_cancel_marks_live_nodes_and_late_results_are_ignored() -> None:
    s = start(flow_of(DIAMOND))
    s = rm.cancel(s.run, "cancelled by user", 3.0)
    assert s.run.status is RunStatus.CANCELLED and s.run.node("a").status is NodeStatus.CANCELLED
    assert tags(s) == ["sys.end.all"] and not s.events[0].good
    late = done(s.run, "a")
    assert late.run == s.run and not late.events


def test_recover_fails_interrupted_and_keeps_waiting_gates() -> None:
    s = start(flow_of(SIGN_OFF))
    r = rm.recover(s.run, 9.0).run
    assert r.status is RunStatus.BAD and r.reason == "host restarted while build was running"
    waiting = done(s.run, "build").run
    again = rm.recover(waiting, 9.0)
    assert again.run.status is RunStatus.WAITING and not again.events


def test_recover_ends_a_run_whose_cancel_was_asked_for_cancelled() -> None:
    s = start(flow_of(SIGN_OFF))
    asked = rm.audited(s.run, {"at": 2.0, "by": "ann", "action": "cancel", "detail": "no longer needed"})
    r = rm.recover(asked, 9.0).run
    assert r.status is RunStatus.CANCELLED and r.reason == "no longer needed"
    assert r.node("build").status is NodeStatus.CANCELLED


def test_run_document_round_trip() -> None:
    s = done(start(flow_of(SIGN_OFF), {"who": "x"}).run, "build")
    assert run_from_doc(run_doc(s.run)) == s.run


def test_rerun_from_a_node_keeps_what_came_before_it() -> None:
    f = flow_of("""
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
      - {id: side, listen: task.a.good, type: exec, opts: {cmd: "true"}}
      - {id: b, listen: task.side.good, type: exec, opts: {cmd: "false"}}
      - {id: both, class: merge, type: all, wait: [task.b.good, task.side.good]}
      - {id: done, listen: merge.both.good, type: end}
""")
    s = done(done(start(f, {"who": "x"}).run, "a").run, "side")
    old = done(s.run, "b", 1).run
    assert old.status is RunStatus.BAD
    pend = rm.rerun(old, "h1-2", "b", 10.0).run
    assert pend.rerun_of == "h1-1" and dict(pend.values) == {"who": "x"}
    assert pend.node("a") == old.node("a") and pend.node("both").waits == ("task.side.good",)
    s = rm.activate(pend, "h1", 11.0)
    assert started(s) == ["b"] and s.starts[0].values == old.node("b").inputs
    assert s.starts[0].opts == {"cmd": "false"}  # the flow file's, never the data's
    s = done(s.run, "b", 0)
    assert s.run.status is RunStatus.GOOD and "merge.both.good" in tags(s)
    with pytest.raises(LookupError):
        rm.rerun(old, "h1-3", "done", 12.0)  # never reached


def test_values_and_upstream_results_are_data_never_opts() -> None:
    """A trigger value named like an opt (`cmd`, `args`, `env`, `sub-dir`) and a result an upstream
    task passes on reach the next task as data; its opts are the flow file's."""
    f = parse_config(
        """
flows:
  - id: f
    ver: 1
    triggers: [{id: go, type: data, opts: {env: [FROM_TRIGGER=1], url: "file:///r.git"}}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {shell: "echo safe", env: [OWN=1]}}
      - {id: b, listen: task.a.good, type: exec, opts: {shell: "echo b"}}
""",
        "t.yml",
    ).flows[0]
    given = {"cmd": "rm -rf /", "args": ["x"], "env": ["LD_PRELOAD=/evil.so"], "sub-dir": "/"}
    s = rm.activate(rm.new_pend("h1-1", f, "go", given, 1.0).run, "h1", 2.0)
    (a,) = s.starts
    assert a.opts == {"env": ["FROM_TRIGGER=1", "OWN=1"], "url": "file:///r.git", "shell": "echo safe"}
    assert a.values == given
    s = rm.node_done(s.run, "a", 0, {"shell": "rm -rf /"}, "", 3.0)
    (b,) = s.starts
    assert b.opts == {"env": ["FROM_TRIGGER=1"], "url": "file:///r.git", "shell": "echo b"}
    assert b.values["shell"] == "rm -rf /" and b.values["exit_status"] == 0


def test_a_batch_of_output_lines_is_one_event() -> None:
    s = start(flow_of(DIAMOND))
    seq = s.run.seq
    step = rm.log_lines(s.run, "a", ("one", "", "three"), 3.0)
    assert [(e.tag, e.source, e.opts) for e in step.events] == [
        ("sys.node.update", "a", {"lines": ["one", "", "three"]})
    ]
    assert step.events[0].seq == seq + 1 and step.run.seq == seq + 1
    assert rm.log_lines(step.run, "a", (), 3.0).events == ()
