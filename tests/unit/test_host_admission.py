"""The host reducer's admissions on the cluster's database, purely: a policy that counts runs or
takes tokens is asked of the database (Admit), and its answer (Admitted) makes the pend or fails
the request; a host alone or in the peer-to-peer cluster admits by itself, as before."""

from __future__ import annotations

from typing import Any

from floe.config import parse_config
from floe.model import run as rm
from floe.model.effects import AddPend, Admit, Effect, Fail, Resolve, TookId, Unadmit
from floe.model.errors import BadRequest
from floe.model.flow import Flow
from floe.model.host import HostState, handle
from floe.model.messages import Admitted, Message, Rerun, Trigger
from floe.model.policy import Rejected, Rejection
from floe.model.run import RunStatus
from floe.store.errors import StoreError

CONF = """
flows:
  - id: free
    triggers: [{id: go, type: data}]
    policies: [{name: main, allow: {branch: [main]}}]
    tasks: [{id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}]
  - id: limited
    triggers: [{id: go, type: data}, {id: nightly, type: data}]
    policies:
      - {name: main, allow: {branch: [main]}}
      - {name: one, max-concurrent: 1, trigger: go}
    tasks:
      - {id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}
      - {id: b, listen: task.a.good, type: exec, opts: {cmd: "true"}}
"""
FLOWS: dict[str, Flow] = {f.id: f for f in parse_config(CONF, "t.yml").flows}
PG = HostState("h1", claims=True)
MAIN = {"branch": "main"}


class Box:
    """A request's reply as the reducer names it."""

    def __init__(self) -> None:
        self.value: Any = None
        self.error: BaseException | None = None

    def done(self) -> bool:
        return self.value is not None or self.error is not None

    def set_result(self, result: Any, /) -> None:
        self.value = result

    def set_exception(self, exception: BaseException, /) -> None:
        self.error = exception


def feed(state: HostState, *msgs: Message) -> tuple[HostState, list[Effect]]:
    effects: list[Effect] = []
    for msg in msgs:
        state, got = handle(state, msg, 1.0)
        effects += got
    return state, effects


def asked(fx: list[Effect]) -> Admit:
    admits = [e for e in fx if isinstance(e, Admit)]
    assert len(admits) == 1, fx
    return admits[0]


def test_a_counting_policy_is_asked_of_the_database_and_its_yes_makes_the_pend() -> None:
    request = Trigger(FLOWS["limited"], "go", MAIN, Box(), "ann")
    s, fx = feed(PG, request)
    admit = asked(fx)
    assert (admit.run_id, admit.trigger, admit.values, admit.request) == ("h1-1", "go", MAIN, request)
    assert fx == [TookId(1), admit] and s.runs == {} and s.last_id == 1  # no pend before the answer
    s, fx = feed(s, Admitted(request, "h1-1"))
    assert s.runs["h1-1"].status is RunStatus.PENDING and s.runs["h1-1"].flow == FLOWS["limited"]
    assert Resolve(request.reply, "h1-1") in fx and any(isinstance(e, AddPend) for e in fx)
    assert "TookId" not in [type(e).__name__ for e in fx]  # the id was taken with the ask


def test_a_policy_refusal_fails_the_request_and_gives_its_id_back_when_it_is_the_last() -> None:
    first, second = (Trigger(FLOWS["limited"], "go", MAIN, Box()) for _ in range(2))
    s, _ = feed(PG, first, second)
    assert s.last_id == 2
    no = Rejected(Rejection("one", 429, "at most 1 concurrent runs of limited"))
    s, fx = feed(s, Admitted(first, "h1-1", no))
    assert fx == [Fail(first.reply, no)] and s.last_id == 2  # h1-2 was taken since: a gap
    s, fx = feed(s, Admitted(second, "h1-2", no))
    assert fx == [TookId(1), Fail(second.reply, no)] and s.last_id == 1 and s.runs == {}
    s, fx = feed(s, Trigger(FLOWS["limited"], "go", MAIN, Box()))
    assert asked(fx).run_id == "h1-2"


def test_a_lost_answer_fails_the_request_and_drops_what_may_have_been_admitted() -> None:
    request = Trigger(FLOWS["limited"], "go", MAIN, Box())
    s, _ = feed(PG, request)
    away = StoreError("the cluster's database cannot admit the trigger now: gone")
    s, fx = feed(s, Admitted(request, "h1-1", away))
    assert fx == [Unadmit("h1-1"), Fail(request.reply, away)] and s.last_id == 1 and s.runs == {}


def test_what_no_count_changes_is_answered_at_once() -> None:
    """`allow` refuses without asking; a trigger no counting policy applies to, or a flow with
    only `allow`, is admitted here."""
    bad = Trigger(FLOWS["limited"], "go", {"branch": "dev"}, Box())
    s, fx = feed(PG, bad)
    assert s == PG and len(fx) == 1 and isinstance(fx[0], Fail) and isinstance(fx[0].error, Rejected)
    assert fx[0].error.rejection.status == 403
    for flow, trig in (("limited", "nightly"), ("free", "go")):
        request = Trigger(FLOWS[flow], trig, MAIN, Box())
        s, fx = feed(PG, request)
        assert "Admit" not in [type(e).__name__ for e in fx] and Resolve(request.reply, "h1-1") in fx


def test_without_the_database_a_host_counts_its_own_runs() -> None:
    s, fx = feed(HostState("h1"), Trigger(FLOWS["limited"], "go", MAIN, Box()))
    assert "Admit" not in [type(e).__name__ for e in fx] and len(s.runs) == 1
    again = Trigger(FLOWS["limited"], "go", MAIN, Box())
    same, fx = feed(s, again)
    assert same == s and len(fx) == 1 and isinstance(fx[0], Fail) and isinstance(fx[0].error, Rejected)


def test_a_rerun_is_admitted_like_a_trigger_and_a_bad_from_fails_before_asking() -> None:
    old = rm.new_pend("h1-7", FLOWS["limited"], "go", MAIN, 0.0).run
    old = rm.cancel(old, "done with it", 0.5).run
    s, fx = feed(PG, Rerun(old, "b", Box()))
    assert len(fx) == 1 and isinstance(fx[0], Fail) and isinstance(fx[0].error, BadRequest)
    assert s == PG  # never reached b: nothing asked, no id taken
    request = Rerun(old, "", Box(), "ann")
    s, fx = feed(PG, request)
    assert asked(fx).request == request and asked(fx).flow == old.flow
    s, fx = feed(s, Admitted(request, "h1-1"))
    assert s.runs["h1-1"].rerun_of == "h1-7" and Resolve(request.reply, "h1-1") in fx
