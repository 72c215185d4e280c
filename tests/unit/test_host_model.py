"""The host reducer, driven purely: dispatch, hand-over, cancellation, recovery and the order of
its effects, as tables of messages in and state and effects out (no IO, no event loop)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from floe.config import parse_config
from floe.model import run as rm
from floe.model.dispatch import HostView
from floe.model.effects import (
    AddPend,
    AppendEvents,
    AwaitStored,
    CancelTasks,
    Claim,
    CountHanded,
    Effect,
    Fail,
    Offer,
    PlaceState,
    Publish,
    PutRun,
    Release,
    Reserve,
    Resolve,
    StartNodes,
    StartRunner,
    TookId,
    Unpend,
    Unplace,
)
from floe.model.errors import Conflict, NotFound
from floe.model.flow import Flow
from floe.model.host import HostState, handle
from floe.model.messages import (
    Accept,
    Answer,
    Cancel,
    Claimed,
    ClaimedBy,
    Halt,
    Lines,
    Message,
    NodeDone,
    Offered,
    Peers,
    Record,
    Recovered,
    Rerun,
    Reserved,
    Resume,
    Settle,
    Stopped,
    Stored,
    TakenOver,
    Trigger,
    Wake,
)
from floe.model.policy import Rejected
from floe.model.run import NodeStatus, Run, RunStatus

CONF = """
flows:
  - id: f
    triggers: [{id: go, type: data}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
  - id: gate
    triggers: [{id: go, type: data}]
    tasks:
      - {id: ok, listen: trigger.good, type: data, opts: {form: {fields: [{id: answer, type: string}]}}}
  - id: tagged
    host-tags: [gpu]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
  - id: db
    resource-tags: [db]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
  - id: single
    reuse-space: true
    triggers: [{id: go, type: data}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
  - id: limited
    policies: [{name: one, max-concurrent: 1}]
    triggers: [{id: go, type: data}]
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
"""
FLOWS: dict[str, Flow] = {f.id: f for f in parse_config(CONF, "t.yml").flows}


class Box:
    """A request's reply as the reducer names it (the hub's is an asyncio future)."""

    def __init__(self) -> None:
        self.filled = False

    def done(self) -> bool:
        return self.filled

    def set_result(self, result: Any, /) -> None:
        self.filled = True

    def set_exception(self, exception: BaseException, /) -> None:
        self.filled = True


def feed(state: HostState, *msgs: Message, now: float = 1.0) -> tuple[HostState, list[Effect]]:
    """The state after `msgs` and all the effects they asked for, in order."""
    effects: list[Effect] = []
    for msg in msgs:
        state, got = handle(state, msg, now)
        effects += got
    return state, effects


def trigger(state: HostState, flow: str, now: float = 1.0) -> tuple[HostState, list[Effect], str]:
    state, fx = feed(state, Trigger(FLOWS[flow], "go", {}, Box(), "ann"), now=now)
    resolved = [e.value for e in fx if isinstance(e, Resolve)]
    return state, fx, resolved[0] if resolved else ""


def running(state: HostState, flow: str = "f") -> tuple[HostState, str]:
    """A run of `flow` activated here, its activation stored and its nodes started."""
    state, _, rid = trigger(state, flow)
    state, fx = feed(state, Settle(1.0))
    for e in fx:
        if isinstance(e, AwaitStored):
            state, _ = feed(state, Stored(e.held))
    return state, rid


def kinds(effects: list[Effect]) -> list[str]:
    return [type(e).__name__ for e in effects]


def put_docs(effects: list[Effect]) -> list[dict[str, Any]]:
    return [e.doc for e in effects if isinstance(e, PutRun)]


def event_tags(effects: list[Effect]) -> list[str]:
    return [d["tag"] for e in effects if isinstance(e, AppendEvents) for d in e.docs]


H1 = HostState("h1")


# ---- durability: what is stored before what starts ----------------------------------------------
def test_a_trigger_starts_its_nodes_only_after_its_activation_is_stored() -> None:
    s, fx, rid = trigger(H1, "f")
    assert rid == "h1-1" and s.last_id == 1 and fx[0] == TookId(1)
    assert "StartNodes" not in kinds(fx) and "StartRunner" in kinds(fx)
    assert kinds(fx)[-1] == "Resolve"  # the answer names a run that exists in the state
    assert event_tags(fx) == [
        "audit",
        "sys.state",
        "inbound.data",
        "sys.state",
        "trigger.good",
        "sys.node.start",
    ]
    run = s.runs[rid]
    assert run.status is RunStatus.RUNNING and s.tasks == {rid} and s.held[0][0] == rid
    s, fx = feed(s, Settle(5.0))
    assert kinds(fx) == ["PutRun", "AwaitStored"]  # put before start
    assert (
        put_docs(fx)[0]["phase"] == "active" and s.held == () and s.written[rid] == (RunStatus.RUNNING, 5.0)
    )
    held = fx[1]
    assert isinstance(held, AwaitStored)
    s, fx = feed(s, Stored(held.held))
    assert fx == [StartNodes(rid, held.held[0][1])] and [x.node_id for x in held.held[0][1]] == ["a"]


def test_an_answer_is_written_before_what_it_starts_and_a_busy_run_is_written_later() -> None:
    s, rid = running(H1, "gate")
    assert s.runs[rid].status is RunStatus.WAITING
    box = Box()
    s, fx = feed(s, Answer(rid, "ok", {"answer": "yes"}, box, "ann"), now=2.0)
    assert Resolve(box, None) in fx and s.runs == {}  # nothing left to do: the run ended good
    assert put_docs(fx)[0]["status"] == "good" and "PublishStored" in kinds(fx)
    # a running run's log lines are stored as events; its document waits PERSIST_EVERY
    s, rid = running(s, "f")
    s, fx = feed(s, Lines(rid, "a", ("one", "two")), Settle(1.05))
    assert event_tags(fx) == ["sys.node.update"] and put_docs(fx) == []
    assert kinds(fx)[-1] == "PersistSoon" and s.persist_due and rid in s.dirty
    s, fx = feed(s, Lines(rid, "a", ("three",)), Settle(1.08))
    assert "PersistSoon" not in kinds(fx)  # one is on its way
    s, fx = feed(s, Settle(1.2))
    assert put_docs(fx)[0]["run_id"] == rid and s.dirty == frozenset()


def test_a_request_refused_leaves_the_state_as_it_was() -> None:
    s, _, _ = trigger(H1, "limited")
    box = Box()
    after, fx = handle(s, Trigger(FLOWS["limited"], "go", {}, box), 2.0)
    assert after is s and len(fx) == 1 and isinstance(fx[0], Fail) and isinstance(fx[0].error, Rejected)
    old = rm.new_pend("h1-0", FLOWS["f"], "go", {}, 0.0).run
    after, fx = handle(s, Rerun(old, "a", box), 2.0)  # never reached `a`: no id, no token taken
    assert after is s and isinstance(fx[0], Fail) and isinstance(fx[0].error, LookupError)
    after, fx = handle(s, Answer("h1-9", "ok", {}, box), 2.0)
    assert after is s and isinstance(fx[0], Fail)


def test_a_request_for_a_run_not_here_fails_with_a_kind_of_the_error_tree() -> None:
    s, _, _ = trigger(H1, "f")
    box = Box()
    _, fx = handle(s, Answer("h1-9", "ok", {}, box), 2.0)
    assert isinstance(fx[0], Fail) and type(fx[0].error) is NotFound  # 404: no such run here
    _, fx = handle(s, Cancel("h1-9", "enough", box), 2.0)
    assert isinstance(fx[0], Fail) and type(fx[0].error) is Conflict  # 409: it ended (or left)


# ---- dispatch -----------------------------------------------------------------------------------
GPU2 = HostView("h2", frozenset({"gpu"}), True, 0)


@pytest.mark.parametrize(
    ("flow", "here", "peers", "stopped", "expect"),
    [
        ("f", set(), (), {}, "start"),
        ("tagged", set(), (), {}, "no host with tags gpu"),
        ("tagged", set(), (GPU2,), {}, "offer h2"),
        ("tagged", set(), (HostView("h2", frozenset({"gpu"}), False),), {}, "host h2 unreachable"),
        ("tagged", {"gpu"}, (GPU2,), {}, "start"),  # a tie: no hand-over needed
        ("f", set(), (HostView("h2", frozenset(), True, 3),), {}, "start"),
        ("db", set(), (), {}, "reserve"),
        ("f", set(), (), {"*": "maintenance"}, "dispatch stopped: maintenance"),
        ("f", set(), (), {"f": "broken"}, "dispatch stopped: broken"),
        ("f", set(), (), {"other": "broken"}, "start"),
    ],
)
def test_placement(
    flow: str, here: set[str], peers: tuple[HostView, ...], stopped: dict[str, str], expect: str
) -> None:
    s, fx, rid = trigger(HostState("h1", frozenset(here), peers=peers, stopped=stopped), flow)
    run = s.runs[rid]
    if expect == "start":
        assert (
            run.status is RunStatus.RUNNING and run.exec_host == "h1" and StartRunner(run_of(fx), True) in fx
        )
    elif expect == "offer h2":
        assert run.status is RunStatus.PENDING and s.offering == {rid: "h2"}
        assert [e.host for e in fx if isinstance(e, Offer)] == ["h2"]
    elif expect == "reserve":
        assert s.offering == {rid: ""} and Reserve(rid, ("db",)) in fx
    else:
        assert run.status is RunStatus.PENDING and run.reason == expect and s.offering == {}


def test_a_pending_run_says_why_while_its_offer_or_reservation_is_in_flight() -> None:
    s, fx, rid = trigger(HostState("h1", peers=(GPU2,)), "tagged")
    assert s.offering == {rid: "h2"} and s.runs[rid].reason == "offered to h2, waiting for its answer"
    assert [e.run.reason for e in fx if isinstance(e, Offer)] == ["offered to h2, waiting for its answer"]
    s, fx, rid = trigger(HostState("h1"), "db")
    assert s.offering == {rid: ""} and s.runs[rid].reason == "reserving its resource tags db"
    s, _ = feed(s, Settle(1.0))
    assert s.runs[rid].reason  # written so


def run_of(fx: list[Effect]) -> Run:
    return next(e.run for e in fx if isinstance(e, StartRunner))


def test_resource_tags_are_reserved_before_activation_and_released_at_the_end() -> None:
    s, _, one = trigger(H1, "db")
    s, fx, two = trigger(s, "db")
    assert Reserve(two, ("db",)) in fx  # the lock host decides between the two
    s, fx = feed(s, Reserved(one, ""))
    assert s.runs[one].status is RunStatus.RUNNING and "StartRunner" in kinds(fx)
    s, fx = feed(s, Reserved(two, f"resource db held by run {one}"))
    assert s.runs[two].reason == f"resource db held by run {one}" and s.offering == {}
    s, fx = feed(s, Wake())
    assert s.runs[two].reason == f"resource db held by run {one}" and "Reserve" not in kinds(fx)
    s, _ = feed(s, Settle(1.0))
    s, fx = feed(s, NodeDone(one, "a", 0, {}))
    assert Release(one) in fx and Reserve(two, ("db",)) in fx  # its end dispatches the next


def test_reuse_space_runs_of_one_flow_wait_for_each_other() -> None:
    s, _, one = trigger(H1, "single")
    s, _, two = trigger(s, "single")
    assert s.runs[two].reason == f"reuse-space workspace in use by run {one}"
    s, _, other = trigger(s, "f")
    assert s.runs[other].status is RunStatus.RUNNING


def test_the_stop_switch_holds_pends_until_resumed() -> None:
    s, fx = feed(H1, Halt("*", "upgrade"))
    assert s.stopped == {"*": "upgrade"} and fx[0].__class__.__name__ == "PutKv"
    s, _, rid = trigger(s, "f")
    assert s.runs[rid].reason == "dispatch stopped: upgrade"
    s, fx = feed(s, Resume("*"))
    assert s.stopped == {} and s.runs[rid].status is RunStatus.RUNNING


def test_audit_entries_count_one_sequence_for_runs_and_other_actions() -> None:
    s, _ = feed(H1, Record("ann", "login"))
    s, _, rid = trigger(s, "f")
    assert s.audit_seq == 2 and [a["seq"] for a in s.runs[rid].audit] == [2]


# ---- hand-over ----------------------------------------------------------------------------------
def offered() -> tuple[HostState, str]:
    s, _, rid = trigger(HostState("h1", peers=(GPU2,)), "tagged")
    return s, rid


def test_an_offer_taken_moves_the_run_to_that_host() -> None:
    s, rid = offered()
    s, fx = feed(s, Offered(rid, "h2", True, ""))
    assert rid not in s.runs and s.offering == {} and s.dirty == frozenset()
    assert fx[0] == CountHanded("h2") and s.peers[0].active == 1
    doc = put_docs(fx)[0]
    assert (doc["phase"], doc["exec_host"]) == ("moved", "h2")
    moved = next(e for e in fx if isinstance(e, Publish))
    assert moved.docs[0]["tag"] == "sys.moved" and not moved.observe


def test_an_offer_refused_leaves_the_pend_here_to_place_again() -> None:
    s, rid = offered()
    s, fx = feed(s, Offered(rid, "h2", False, "h2 is stopping"))
    assert s.runs[rid].reason == "h2 is stopping" and s.offering == {} and s.pinned == {}
    s, fx = feed(s, Wake())
    assert [e.host for e in fx if isinstance(e, Offer)] == ["h2"]


def test_an_offer_that_may_have_arrived_pins_the_pend_to_that_host() -> None:
    s, rid = offered()
    s, _ = feed(s, Offered(rid, "h2", False, "host h2 unreachable (timed out)", unknown=True))
    assert s.pinned == {rid: "h2"}
    gpu3 = HostView("h3", frozenset({"gpu"}), True, 0)
    s, fx = feed(s, Peers((HostView("h2", frozenset({"gpu"}), False), gpu3)), Wake())
    assert "Offer" not in kinds(fx)  # never to h3: it may be running on h2
    assert s.runs[rid].reason == "offered to h2, no answer yet: host h2 unreachable"
    s, fx = feed(s, Peers((GPU2, gpu3)), Wake())
    assert [e.host for e in fx if isinstance(e, Offer)] == ["h2"]
    s, _ = feed(s, Offered(rid, "h2", True, ""))
    assert s.pinned == {} and s.runs == {}


def test_a_pend_handed_here_runs_unless_it_conflicts() -> None:
    s, mine = running(H1, "single")
    pend = rm.new_pend("h2-1", FLOWS["single"], "go", {}, 1.0).run
    box = Box()
    s, fx = feed(s, Accept(pend, box))
    assert Resolve(box, f"reuse-space workspace in use by run {mine}") in fx and "h2-1" not in s.runs
    other = rm.new_pend("h2-2", FLOWS["f"], "go", {}, 1.0).run
    s, fx = feed(s, Accept(other, box))
    assert Resolve(box, "") in fx and s.runs["h2-2"].exec_host == "h1"
    s, _ = feed(s, Settle(1.0))
    s, fx = feed(s, NodeDone("h2-2", "a", 0, {}))
    assert [(e.host, e.run_id) for e in fx if e.__class__.__name__ == "TellEnded"] == [("h2", "h2-2")]


def test_max_runs_holds_a_pend_with_its_reason_until_a_run_here_ends() -> None:
    s, first = running(HostState("h1", max_runs=1), "f")
    s, _, second = trigger(s, "f")
    assert s.runs[second].status is RunStatus.PENDING
    assert s.runs[second].reason == "every host that fits is at its max-runs"
    box = Box()
    s, fx = feed(s, Accept(rm.new_pend("h2-1", FLOWS["f"], "go", {}, 1.0).run, box))
    assert Resolve(box, "host h1 is at its max-runs (1)") in fx and "h2-1" not in s.runs
    s, fx = feed(s, NodeDone(first, "a", 0, {}))
    assert first not in s.runs and s.runs[second].status is RunStatus.RUNNING


def test_a_run_waiting_on_a_gate_takes_no_slot_of_max_runs() -> None:
    s, gated = running(HostState("h1", max_runs=1), "gate")
    assert s.runs[gated].status is RunStatus.WAITING
    s, _, other = trigger(s, "f")
    assert s.runs[other].status is RunStatus.RUNNING and s.runs[other].exec_host == "h1"


def test_max_runs_of_a_peer_is_respected_and_a_peer_with_room_is_chosen() -> None:
    full = HostView("h2", frozenset({"gpu"}), True, 1, running=1, max_runs=1)
    s, _, rid = trigger(HostState("h1", peers=(full,)), "tagged")
    assert s.runs[rid].reason == "every host that fits is at its max-runs" and s.offering == {}
    gated = HostView("h2", frozenset({"gpu"}), True, 1, running=0, max_runs=1)  # its one run waits
    s, fx, rid = trigger(HostState("h1", peers=(gated,)), "tagged")
    assert [e.host for e in fx if isinstance(e, Offer)] == ["h2"]


# ---- cancellation -------------------------------------------------------------------------------
def test_cancel_a_pending_run_archives_it_at_once() -> None:
    s, _, rid = trigger(HostState("h1", stopped={"*": "x"}), "f")
    box = Box()
    s, fx = feed(s, Cancel(rid, "no", box, "ann"))
    assert s.runs == {} and "CancelTasks" not in kinds(fx) and Resolve(box, None) in fx
    doc = put_docs(fx)[0]
    assert (doc["phase"], doc["status"], doc["reason"]) == ("archive", "cancelled", "no")
    assert s.counts == {("f", "cancelled"): 1}


def test_cancel_a_running_run_stops_its_task_first() -> None:
    s, rid = running(H1)
    s, fx = feed(s, Cancel(rid, "no", Box(), "ann"))
    assert CancelTasks(rid) in fx and s.cancelling == {rid: "no"} and rid in s.runs
    s, fx = feed(s, Settle(1.0))  # the acknowledged cancel is written with the reply's batch
    assert [a["action"] for a in put_docs(fx)[0]["audit"]] == ["trigger", "cancel"]
    late = feed(s, NodeDone(rid, "a", 0, {}))
    assert late == (late[0], []) and late[0].runs == s.runs  # a result while cancelling changes nothing
    s, fx = feed(s, Cancel(rid, "again", Box()))
    assert "CancelTasks" not in kinds(fx) and s.cancelling == {rid: "no"}
    s, fx = feed(s, Stopped(rid))
    assert s.runs == {} and s.tasks == frozenset() and s.cancelling == {}
    assert put_docs(fx)[0]["status"] == "cancelled"


@pytest.mark.parametrize("flow", ["tagged", "db"])
def test_cancel_while_offering_or_reserving(flow: str) -> None:
    s, _, rid = trigger(HostState("h1", peers=(GPU2,)), flow)
    assert rid in s.offering
    s, fx = feed(s, Cancel(rid, "no", Box()))
    assert s.runs == {} and s.offering == {} and put_docs(fx)[0]["status"] == "cancelled"
    answer = Offered(rid, "h2", False, "busy") if flow == "tagged" else Reserved(rid, "")
    s, fx = feed(s, answer)
    assert fx == ([] if flow == "tagged" else [Release(rid)])  # a reservation for nothing goes back


# ---- recovery -----------------------------------------------------------------------------------
def test_recovery_resolves_every_interrupted_run_and_dispatches_the_pending() -> None:
    busy = rm.activate(rm.new_pend("h1-1", FLOWS["f"], "go", {}, 1.0).run, "h1", 1.0).run
    waiting = rm.activate(rm.new_pend("h1-2", FLOWS["gate"], "go", {}, 1.0).run, "h1", 1.0).run
    asked = rm.audited(
        rm.activate(rm.new_pend("h1-3", FLOWS["f"], "go", {}, 1.0).run, "h1", 1.0).run,
        {"action": "cancel", "detail": "by ann"},
    )
    pend = rm.new_pend("h1-4", FLOWS["f"], "go", {}, 1.0).run
    got = Recovered(
        (pend,),
        (busy, waiting, asked),
        {"h1-1": (("a", "killed process 7 left running when the host stopped: sleep 9"),)},
        {},
        audit_seq=5,
        last_id=9,
    )
    s, fx = feed(H1, got, now=3.0)
    assert (s.audit_seq, s.last_id) == (5, 9)
    ended = {d["run_id"]: (d["status"], d["reason"]) for d in put_docs(fx)}
    assert ended == {
        "h1-1": ("bad", "host restarted while a was running"),
        "h1-3": ("cancelled", "by ann"),
    }
    lines = [x for e in fx if isinstance(e, AppendEvents) for d in e.docs for x in d["opts"].get("lines", ())]
    assert "killed process 7 left running when the host stopped: sleep 9" in lines
    assert s.runs["h1-2"].node("ok").status is NodeStatus.WAITING
    assert StartRunner(s.runs["h1-2"], fresh=False) in fx  # a gate keeps waiting, in its task
    assert s.runs["h1-4"].status is RunStatus.RUNNING and s.tasks == {"h1-2", "h1-4"}
    s, fx = feed(s, Settle(1.0))
    assert kinds(fx)[-1] == "AwaitStored" and {d["run_id"] for d in put_docs(fx)} == {"h1-2", "h1-4"}


# ---- placement through the cluster's database (postgres) ---------------------------------------
PG1 = HostState("h1", claims=True)


def test_with_claims_a_new_pend_is_made_claimable_and_claimed_not_placed_here() -> None:
    s, fx, rid = trigger(PG1, "db")
    run = s.runs[rid]
    assert run.status is RunStatus.PENDING and run.reason and s.offering == {rid: "*"}
    assert AddPend(run_of_pend(fx)) in fx
    assert "Claim" not in kinds(fx)  # claimed on the pend's wake-up, once it is claimable
    assert not {"StartRunner", "Reserve", "Offer"} & set(kinds(fx))  # no lock host, no offers
    s, fx = feed(s, Wake())
    assert "AddPend" not in kinds(fx) and Claim() in fx  # made claimable once


def run_of_pend(fx: list[Effect]) -> Run:
    return next(e.run for e in fx if isinstance(e, AddPend))


def test_a_claimed_pend_starts_here_and_its_end_frees_its_placement() -> None:
    s, _, rid = trigger(PG1, "db")
    s, fx = feed(s, Claimed((s.runs[rid],), {}))
    run = s.runs[rid]
    assert run.status is RunStatus.RUNNING and run.exec_host == "h1" and s.offering == {}
    assert StartRunner(run_of(fx), True) in fx
    s, _ = feed(s, Settle(1.0))
    s, fx = feed(s, NodeDone(rid, "a", 0, {}))
    assert Unplace(rid) in fx and "Release" not in kinds(fx) and "TellEnded" not in kinds(fx)


def test_a_pend_claimed_here_that_another_host_made_starts_from_its_stored_copy() -> None:
    made = trigger(HostState("h2", claims=True), "f")
    theirs = made[0].runs[made[2]]
    s, fx = feed(PG1, Claimed((theirs,), {}))
    assert s.runs[theirs.run_id].exec_host == "h1" and "StartRunner" in kinds(fx)


def test_the_claims_answer_keeps_each_waiting_pends_reason() -> None:
    s, _, rid = trigger(PG1, "tagged")
    s, _ = feed(s, Settle(1.0))
    s, _ = feed(s, Claimed((), {rid: "no host with tags gpu", "h9-1": "elsewhere"}))
    assert s.runs[rid].reason == "no host with tags gpu" and "h9-1" not in s.runs
    s, _ = feed(s, Claimed((), {rid: ""}))
    assert s.runs[rid].reason == "no host with tags gpu"  # never empty


def test_a_pend_claimed_by_another_host_leaves_this_one_unwritten() -> None:
    s, _, rid = trigger(PG1, "f")
    s, fx = feed(s, ClaimedBy(rid, "h2"), Settle(1.0))
    assert rid not in s.runs and s.offering == {} and put_docs(fx) == []
    same, fx = feed(s, ClaimedBy("h1-99", "h2"))
    assert same == s and fx == []


def test_a_pend_made_here_whose_claimer_was_lost_before_it_started_is_claimed_here_again() -> None:
    """h2 claimed h1's pend and was lost before activating it: the takeover makes it a pend of h1
    again, so h1's own claim starts it (it is not taken for a pend that ended here). Either pend
    is made claimable again by the hub (AddPend, retried while the database fails)."""
    s, _, rid = trigger(PG1, "f")
    pend = s.runs[rid]
    s, _ = feed(s, ClaimedBy(rid, "h2"), Settle(1.0))
    s, fx = feed(s, TakenOver(pend))
    assert s.runs[rid] == pend and fx == [AddPend(pend)]
    s, fx = feed(s, Wake())
    assert "AddPend" not in kinds(fx)  # made claimable once
    s, fx = feed(s, Claimed((pend,), {}))
    assert s.runs[rid].exec_host == "h1" and "StartRunner" in kinds(fx) and "Unplace" not in kinds(fx)
    theirs = trigger(HostState("h2", claims=True), "f")
    other = theirs[0].runs[theirs[2]]
    same, fx = feed(s, TakenOver(other))
    assert same == s and fx == [AddPend(other)]  # another host's pend: claimed from the database alone


def test_a_claimed_pend_cancelled_meanwhile_is_let_go() -> None:
    s, _, rid = trigger(PG1, "f")
    stored = s.runs[rid]
    s, fx = feed(s, Cancel(rid, "no", Box(), "ann"))
    assert Unpend(rid) in fx
    s, fx = feed(s, Claimed((rm.cancel(stored, "no", 1.0).run,), {}))
    assert Unplace(rid) in fx and "StartRunner" not in kinds(fx)


def test_a_pend_made_and_cancelled_here_is_let_go_though_its_claim_read_it_pending() -> None:
    """The claim read the stored pend before this host's cancel was written: the copy says pending."""
    s, _, rid = trigger(PG1, "f")
    stored = s.runs[rid]
    s, fx = feed(s, Cancel(rid, "no", Box(), "ann"))
    s, fx = feed(s, Claimed((stored,), {}))
    assert Unplace(rid) in fx and "StartRunner" not in kinds(fx) and rid not in s.runs


def test_with_claims_the_stop_switch_holds_pends_here_and_claims_nothing() -> None:
    s, _ = feed(PG1, Halt("*", "upgrade"))
    s, fx, rid = trigger(s, "f")
    assert s.runs[rid].reason == "dispatch stopped: upgrade"
    assert "AddPend" not in kinds(fx) and "Claim" not in kinds(fx)
    s, fx = feed(s, Resume("*"))
    assert AddPend(s.runs[rid]) in fx and "Claim" not in kinds(fx)  # its wake-up claims
    s, fx = feed(s, Resume("*"))
    assert "AddPend" not in kinds(fx) and Claim() in fx


def test_a_claimed_pend_of_a_flow_stopped_here_waits_here_until_resumed() -> None:
    s, _ = feed(PG1, Halt("f", "broken"))
    made = trigger(HostState("h2", claims=True), "f")
    s, fx = feed(s, Claimed((made[0].runs[made[2]],), {}))
    assert s.runs[made[2]].reason == "dispatch stopped: broken" and Unplace(made[2]) in fx
    s, fx = feed(s, Resume("f"))
    assert AddPend(s.runs[made[2]]) in fx


def test_a_gate_waiting_run_taken_over_waits_here_at_once() -> None:
    s, rid = running(HostState("h2"), "gate")
    waiting = replace(s.runs[rid], exec_host="h1")
    s, fx = feed(PG1, TakenOver(waiting))
    assert s.runs[rid] == waiting and rid in s.tasks and StartRunner(waiting, False) in fx
    again, fx = feed(s, TakenOver(waiting))
    assert again == s and fx == []  # once
    s, fx = feed(s, Answer(rid, "ok", {"answer": "yes"}, Box(), "ann"))
    assert "Resolve" in kinds(fx) and "Fail" not in kinds(fx) and Unplace(rid) in fx


def test_a_claimed_run_tells_the_database_when_it_waits_on_a_gate() -> None:
    s, _, rid = trigger(PG1, "gate")
    s, fx = feed(s, Claimed((s.runs[rid],), {}))
    assert s.runs[rid].status is RunStatus.WAITING and PlaceState(rid, True, "ok") in fx
    s, _ = feed(s, Settle(1.0))
    s, fx = feed(s, Cancel(rid, "no", Box(), "ann"), Stopped(rid))
    assert "PlaceState" not in kinds(fx) and Unplace(rid) in fx
