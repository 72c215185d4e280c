"""The surviving host's decision for a lost host's run: ended naming the interrupted nodes, a gate
moved and kept waiting, a cancel that was asked for honoured."""

from __future__ import annotations

from floe.config import parse_config
from floe.model import run as rm
from floe.model.run import RunStatus
from floe.model.takeover import take_over

FLOW = parse_config(
    """
flows:
  - id: f
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: build, listen: trigger.good, type: exec, opts: {cmd: "true"}}
      - {id: sign, listen: task.build.good, type: data, opts: {form: {fields: [{id: ok, type: bool}]}}}
      - {id: done, listen: task.sign.good, type: end}
""",
    "t.yml",
).flows[0]


def running() -> rm.Run:
    return rm.activate(rm.new_pend("h1-1", FLOW, "go", {}, 1.0).run, "h2", 2.0).run


def test_a_run_whose_task_was_running_ends_bad_naming_the_host_and_node() -> None:
    step = take_over(running(), "h2", "h1", 9.0)
    assert step.run.status is RunStatus.BAD and step.run.reason == "host h2 lost while build was running"
    assert step.events and step.run.ended == 9.0


def test_a_run_waiting_on_a_gate_moves_to_the_survivor_and_keeps_waiting() -> None:
    waiting = rm.node_done(running(), "build", 0, {}, "", 3.0).run
    assert waiting.status is RunStatus.WAITING
    step = take_over(waiting, "h2", "h1", 9.0)
    assert step.run.status is RunStatus.WAITING and step.run.exec_host == "h1" and not step.events


def test_a_run_whose_cancel_was_asked_for_ends_cancelled() -> None:
    asked = rm.audited(running(), {"at": 2.0, "by": "ann", "action": "cancel", "detail": "not needed"})
    step = take_over(asked, "h2", "h1", 9.0)
    assert step.run.status is RunStatus.CANCELLED and step.run.reason == "not needed"


def test_a_run_whose_document_still_reads_pending_ends_bad_naming_the_placed_node() -> None:
    """Its activation is among its events (the pend's host wrote its pending reason over it)."""
    pend = rm.new_pend("h1-1", FLOW, "go", {}, 1.0).run
    step = take_over(pend, "h2", "h1", 9.0, "build")
    assert step.run.status is RunStatus.BAD and step.run.reason == "host h2 lost while build was running"


def test_a_run_whose_running_task_has_retries_left_runs_it_again_on_the_survivor() -> None:
    flow = parse_config(
        """
flows:
  - id: r
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: build, listen: trigger.good, type: exec, retries: 1, opts: {cmd: "true"}}
""",
        "t.yml",
    ).flows[0]
    run = rm.activate(rm.new_pend("h1-1", flow, "go", {}, 1.0).run, "h2", 2.0).run
    step = take_over(run, "h2", "h1", 9.0)
    assert step.run.status is RunStatus.RUNNING and step.run.exec_host == "h1"
    assert [(s.node_id, s.attempt) for s in step.starts] == [("build", 2)]
    assert step.run.node("build").tries[0]["reason"] == "host h2 lost while build was running"
    again = take_over(step.run, "h2", "h1", 12.0)  # lost again: no retry left
    assert again.run.status is RunStatus.BAD and not again.starts
